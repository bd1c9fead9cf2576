"""The procedures as OCDS (Open Contracting Data Standard 1.1): releases, records, a package.

Each stored version of each notice of a procedure is one release (`release`): its `tag` is the
notice's phase (`watcher.core.phases`), its `date` the time the watcher recorded it, and it carries the
`buyer`, the `tender` (title, value, `tenderPeriod`, `items` with their CPV codes, `lots`,
`documents`), the `awards` (`suppliers`, `value`) and, for DECP, the `contracts`. The portals' own
identifiers stay in `tender.id` (the procedure identifier: BOAMP `contractfolderid`, TED
`procedure-identifier`, an OCDS ocid...) and `tender.identifiers` (each notice's reference on its
portal).

A procedure's record has its releases, a `compiledRelease` and a `versionedRelease`, both made by
the `ocdsmerge` library (never by hand), from the release schema shipped in
`watcher/pipeline/schemas/ocds/` (no network). Ocids are `{prefix}-{source}-{first notice's reference}`;
the prefix is `WATCHER_OCID_PREFIX` (default `ocds-watcher`, not registered with the OCDS
helpdesk: a deployment that publishes its data registers and sets its own).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, NamedTuple

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload, load_only

from watcher import __version__
from watcher.core.phases import ORDER, phase_of, version_phase
from watcher.db.models import Notice, NoticeVersion

DEFAULT_PREFIX = "ocds-watcher"
OCDS_VERSION = "1.1"
BATCH = 200  # procedures read together by `records`
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@lru_cache(maxsize=1)
def release_schema() -> dict[str, Any]:
    """The OCDS 1.1 release schema shipped with the package."""
    text = (
        resources.files("watcher.pipeline").joinpath("schemas/ocds/release-schema.json").read_text()
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def release_tags() -> frozenset[str]:
    """The release tags of the closed `releaseTag` codelist (the schema does not enforce it)."""
    text = resources.files("watcher.pipeline").joinpath("schemas/ocds/releaseTag.csv").read_text()
    return frozenset(line.split(",", 1)[0] for line in text.splitlines()[1:] if line)


@lru_cache(maxsize=1)
def _merger() -> Any:
    import ocdsmerge  # noqa: PLC0415 (its merge rules are read from the schema once)

    return ocdsmerge.Merger(schema=release_schema())


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-") or "x"


def ocid(prefix: str, root: Notice) -> str:
    """A procedure's ocid: the prefix, then its first notice's source and reference."""
    return f"{prefix}-{_safe(root.source.name)}-{_safe(root.native_id)}"


def _org_id(name: str) -> str:
    return "org-" + _safe(name.lower())[:80]


def _when(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _value(amount: Any, currency: Any) -> dict[str, Any] | None:
    """An OCDS value; none for a zero (what portals write when they state no amount, issue 24)."""
    if not isinstance(amount, int | float) or isinstance(amount, bool) or not amount > 0:
        return None
    if not math.isfinite(amount):  # `Infinity` is no JSON (a stored payload may hold one)
        return None
    value: dict[str, Any] = {"amount": amount}
    if currency:
        value["currency"] = str(currency)
    return value


def _deadline(text: Any) -> str | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return _when(dt.datetime.fromisoformat(text))
    except ValueError:
        return None


class _Version(NamedTuple):
    """What a release reads of a stored version (not its raw payload, the heaviest column)."""

    notice_id: int
    version: int
    snapshot: dict[str, Any]
    fetched_at: dt.datetime


# What a release reads of a notice; the snapshot and the compiled procedure stay in the database.
_NOTICE_COLUMNS = (
    Notice.id,
    Notice.source_id,
    Notice.native_id,
    Notice.title,
    Notice.notice_type,
    Notice.procedure_id,
    Notice.phase,
    Notice.parent_id,
    Notice.first_seen_at,
)


def release(
    prefix: str,
    root: Notice,
    notice: Notice,
    version: NoticeVersion | _Version,
    procedure_id: str,
) -> dict[str, Any]:
    """One notice version as an OCDS release."""
    snap = version.snapshot or {}
    base = notice.phase or phase_of(notice.source.kind, notice.notice_type, snap, "")
    tag = version_phase(base, version.version)
    reference = f"{notice.source.name}:{notice.native_id}"
    data: dict[str, Any] = {
        "ocid": ocid(prefix, root),
        "id": f"{_safe(notice.source.name)}-{_safe(notice.native_id)}-v{version.version}",
        "date": _when(version.fetched_at),
        "tag": [tag],
        "initiationType": "tender",
    }
    if snap.get("language"):
        data["language"] = str(snap["language"])
    parties: list[dict[str, Any]] = []
    buyer = snap.get("buyer")
    if buyer:
        data["buyer"] = {"id": _org_id(buyer), "name": buyer}
        parties.append({"id": _org_id(buyer), "name": buyer, "roles": ["buyer"]})
    tender: dict[str, Any] = {
        "id": procedure_id,
        "identifiers": [{"scheme": notice.source.kind, "id": reference}],
    }
    if tag in {"planning", "tender", "tenderUpdate", "tenderAmendment", "tenderCancellation"}:
        tender.update(_tender(snap, tag))
    if snap.get("outcome") in {"unsuccessful", "cancelled"}:
        tender["status"] = snap["outcome"]
    data["tender"] = tender
    if tag == "planning":
        data["planning"] = {"rationale": snap.get("title") or notice.title}
    winners = [w for w in snap.get("winners") or [] if w]
    if snap.get("outcome") == "unsuccessful":
        # Closed without a winner (eForms `clos-nw`, issue 24): an award that is unsuccessful,
        # with no supplier and no value.
        data["awards"] = [
            {
                "id": f"{_safe(notice.native_id)}-award",
                "status": "unsuccessful",
                "title": snap.get("title") or notice.title,
            }
        ]
    elif tag in {"award", "awardUpdate", "contract", "contractAmendment"}:
        award_id = f"{_safe(notice.native_id)}-award"
        award: dict[str, Any] = {
            "id": award_id,
            "status": "active",
            "title": snap.get("title") or notice.title,
            "suppliers": [{"id": _org_id(w), "name": w} for w in winners],
        }
        value = _value(snap.get("value"), snap.get("currency"))
        if value:
            award["value"] = value
        if snap.get("published"):
            award["date"] = f"{snap['published']}T00:00:00Z"
        data["awards"] = [award]
        parties += [{"id": _org_id(w), "name": w, "roles": ["supplier"]} for w in winners]
        if tag in {"contract", "contractAmendment"}:
            contract: dict[str, Any] = {
                "id": _safe(notice.native_id),
                "awardID": award_id,
                "status": "active",
                "title": snap.get("title") or notice.title,
            }
            if value:
                contract["value"] = value
            if tag == "contractAmendment" and snap.get("description"):
                contract["amendments"] = [
                    {"id": f"{_safe(notice.native_id)}-v{version.version}",
                     "description": str(snap["description"])[:2000]}
                ]  # fmt: skip
            data["contracts"] = [contract]
    if parties:
        merged: dict[str, dict[str, Any]] = {}
        for party in parties:
            known = merged.setdefault(party["id"], {**party, "roles": []})
            known["roles"] = sorted({*known["roles"], *party["roles"]})
        data["parties"] = list(merged.values())
    return data


def _tender(snap: dict[str, Any], tag: str) -> dict[str, Any]:
    status = {"planning": "planning", "tenderCancellation": "cancelled"}.get(tag, "active")
    tender: dict[str, Any] = {"status": status}
    if snap.get("title"):
        tender["title"] = snap["title"]
    if snap.get("description"):
        tender["description"] = str(snap["description"])[:5000]
    value = _value(snap.get("value"), snap.get("currency"))
    if value:
        tender["value"] = value
    for item in snap.get("amounts") or []:
        if item.get("kind") == "range" and item.get("lot") is None:  # `fourchette`, `minValue`
            low = _value(item.get("low"), item.get("currency") or snap.get("currency"))
            high = _value(item.get("amount"), item.get("currency") or snap.get("currency"))
            if low and high:
                tender["minValue"], tender["value"] = low, high
            break
    end = _deadline(snap.get("deadline"))
    if end:
        tender["tenderPeriod"] = {"endDate": end}
    main = snap.get("cpv_main")
    codes = [main, *[c for c in snap.get("cpv") or [] if c != main]] if main else snap.get("cpv")
    items = [  # the main CPV first, the additional ones after it (issue 24)
        {"id": str(n), "classification": {"scheme": "CPV", "id": code}}
        for n, code in enumerate(codes or [], start=1)
    ]
    lots = []
    for n, lot in enumerate(snap.get("lots") or [], start=1):
        lot_id = str(lot.get("number") or n)
        entry: dict[str, Any] = {"id": lot_id}
        if lot.get("title"):
            entry["title"] = lot["title"]
        if lot.get("description"):
            entry["description"] = str(lot["description"])[:2000]
        lot_value = _value(lot.get("value"), snap.get("currency"))
        if lot_value:
            entry["value"] = lot_value
        lots.append(entry)
        items += [
            {
                "id": f"{lot_id}-{m}",
                "classification": {"scheme": "CPV", "id": code},
                "relatedLot": lot_id,
            }
            for m, code in enumerate(lot.get("cpv") or [], start=1)
        ]
    if items:
        tender["items"] = items
    if lots:
        tender["lots"] = lots
    documents = [
        {"id": str(n), "url": url} for n, url in enumerate(snap.get("documents") or [], start=1)
    ]
    if documents:
        tender["documents"] = documents
    return tender


def procedure_of(session: Session, ident: str) -> Notice:
    """The first notice of the procedure of notice `ident` (a number or `source:id`)."""
    from watcher.pipeline.maintenance import find_notice  # noqa: PLC0415

    notice = find_notice(session, ident)
    root = session.get(Notice, notice.parent_id) if notice.parent_id else notice
    assert root is not None
    return root


def members(session: Session, root: Notice) -> list[Notice]:
    """A procedure's notices, oldest first."""
    found = session.scalars(
        select(Notice)
        .options(joinedload(Notice.source))
        .where(or_(Notice.id == root.id, Notice.parent_id == root.id))
        .order_by(Notice.first_seen_at, Notice.id)
    ).all()
    return list(found)


def record(session: Session, root: Notice, prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """A procedure's OCDS record: its releases, compiled and versioned releases (ocdsmerge)."""
    [found] = records(session, [root.id], prefix)
    return found


def records(
    session: Session, root_ids: Sequence[int], prefix: str = DEFAULT_PREFIX
) -> Iterator[dict[str, Any]]:
    """The records of the procedures whose first notices are `root_ids`, in that order, one at a
    time. Each batch of procedures is read in two statements (their notices, their versions
    without the raw payloads), so memory stays that of one batch whatever their number."""
    for start in range(0, len(root_ids), BATCH):
        yield from _batch_records(session, list(root_ids[start : start + BATCH]), prefix)


def _batch_records(session: Session, ids: list[int], prefix: str) -> Iterator[dict[str, Any]]:
    wanted = set(ids)
    # Each procedure's notices oldest first, and its versions in the order of `fetched_at`: the
    # order of one procedure's own statements, kept when a batch is split by procedure.
    notices = session.scalars(
        select(Notice)
        .options(load_only(*_NOTICE_COLUMNS), joinedload(Notice.source))
        .where(or_(Notice.id.in_(ids), Notice.parent_id.in_(ids)))
        .order_by(Notice.first_seen_at, Notice.id)
    ).all()
    grouped: dict[int, list[Notice]] = {i: [] for i in ids}
    procedures_of: dict[int, list[int]] = {}
    for notice in notices:
        mine = [p for p in (notice.id, notice.parent_id) if p in wanted]
        for root_id in dict.fromkeys(mine):
            grouped[root_id].append(notice)
        procedures_of[notice.id] = list(dict.fromkeys(mine))
    versions: dict[int, list[_Version]] = {i: [] for i in ids}
    rows = session.execute(
        select(
            NoticeVersion.notice_id,
            NoticeVersion.version,
            NoticeVersion.snapshot,
            NoticeVersion.fetched_at,
        )
        .where(NoticeVersion.notice_id.in_(list(procedures_of)))
        .order_by(NoticeVersion.fetched_at, NoticeVersion.notice_id, NoticeVersion.version)
    )
    for row in rows:
        for root_id in procedures_of[row.notice_id]:
            versions[root_id].append(_Version(*row))
    for root_id in ids:
        group = grouped[root_id]
        root = next((n for n in group if n.id == root_id), None)
        if root is not None:
            yield _record(prefix, root, group, versions.pop(root_id))


def _record(
    prefix: str, root: Notice, notices: list[Notice], versions: list[_Version]
) -> dict[str, Any]:
    by_id = {n.id: n for n in notices}
    procedure_id = next(
        (n.procedure_id for n in notices if n.procedure_id),
        f"{root.source.name}:{root.native_id}",
    )
    releases = [release(prefix, root, by_id[v.notice_id], v, procedure_id) for v in versions]
    releases = _ordered(releases)
    merger = _merger()
    return {
        "ocid": ocid(prefix, root),
        "releases": releases,
        "compiledRelease": merger.create_compiled_release(releases),
        "versionedRelease": merger.create_versioned_release(releases),
    }


def _ordered(releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Releases by date; two of the same moment in the order of their phases, one second apart
    (ocdsmerge merges in date order and refuses two releases of one date with different ids)."""
    releases.sort(key=lambda r: (r["date"], ORDER.get(r["tag"][0], 99), r["id"]))
    last: dt.datetime | None = None
    for item in releases:
        moment = dt.datetime.fromisoformat(item["date"].replace("Z", "+00:00"))
        if last is not None and moment <= last:
            moment = last + dt.timedelta(seconds=1)
            item["date"] = _when(moment)
        last = moment
    return releases


def root_ids(session: Session, *, relevant_only: bool = True) -> list[int]:
    """The first notice of every procedure (of every relevant one, unless asked), by id."""
    query = select(func.coalesce(Notice.parent_id, Notice.id)).distinct()
    if relevant_only:
        query = query.where(Notice.relevant.is_(True))
    return sorted(set(session.scalars(query)))


def roots(session: Session, *, relevant_only: bool = True) -> list[Notice]:
    """The first notice of every procedure (of every relevant one, unless asked)."""
    ids = root_ids(session, relevant_only=relevant_only)
    found: list[Notice] = []
    for start in range(0, len(ids), BATCH):
        found += session.scalars(
            select(Notice)
            .options(joinedload(Notice.source))
            .where(Notice.id.in_(ids[start : start + BATCH]))
            .order_by(Notice.id)
        ).all()
    return found


def _envelope(now: dt.datetime, prefix: str, uri: str, publisher: str) -> dict[str, Any]:
    """A record package without its records (`records` is None, in its place)."""
    uri = uri or f"urn:detention-watcher:{prefix}"
    return {
        "uri": uri,
        "version": OCDS_VERSION,
        "publishedDate": _when(now),
        "publisher": {"name": publisher},
        "extensions": [],
        "records": None,
        # The releases are embedded in this package's records: it is the package they come from
        # (the record-package schema wants at least one, issue 24).
        "packages": [uri],
        "x_generator": f"detention-watcher {__version__}",
    }


def package(
    session: Session,
    procedures: Iterable[Notice],
    now: dt.datetime,
    *,
    prefix: str = DEFAULT_PREFIX,
    uri: str = "",
    publisher: str = "detention-watcher",
) -> dict[str, Any]:
    """An OCDS record package of `procedures`, in memory (one procedure's, for the API; the
    export of every procedure streams it with `write_package`)."""
    data = _envelope(now, prefix, uri, publisher)
    data["records"] = list(records(session, [root.id for root in procedures], prefix))
    return data


@dataclass
class Written:
    """What `write_package` wrote."""

    records: int = 0
    releases: int = 0


# orjson writes a float below 1e-4 as `0.00001` or `1e-7`, the standard library `1e-05`, `1e-07`.
_OTHER_FLOAT = re.compile(r"0\.0000|e-\d(?!\d)")


def _indented(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, indent=2)`, at orjson's speed: the standard library
    writes with `indent` in Python, five times slower than the whole rest of a record. The
    standard library writes what orjson cannot (integers beyond 64 bits) or writes otherwise
    (small floats; a text that merely looks like one costs the slow path only)."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, indent=2)
    if _OTHER_FLOAT.search(text):
        return json.dumps(value, ensure_ascii=False, indent=2)
    return text


def write_package(
    session: Session,
    procedures: Sequence[int],
    now: dt.datetime,
    write: Callable[[str], object],
    *,
    prefix: str = DEFAULT_PREFIX,
    uri: str = "",
    publisher: str = "detention-watcher",
    progress: Callable[[int, int], None] | None = None,
) -> Written:
    """The record package of the procedures whose first notices are `procedures` (ids), written
    record by record through `write`: the same text as `json.dumps(package(...),
    ensure_ascii=False, indent=2)`, never whole in memory. `progress(done, total)` after each."""
    mark = "\u0000records\u0000"
    head, tail = json.dumps(
        {**_envelope(now, prefix, uri, publisher), "records": mark}, ensure_ascii=False, indent=2
    ).split(json.dumps(mark, ensure_ascii=False))
    write(head)
    written = Written()
    for found in records(session, procedures, prefix):
        # A record two levels down: `indent=2` indents each of its lines by four more spaces
        # (a JSON string holds no raw line break, so every line break is the layout's).
        text = _indented(found).replace("\n", "\n    ")
        write(("[\n    " if not written.records else ",\n    ") + text)
        written.records += 1
        written.releases += len(found["releases"])
        if progress:
            progress(written.records, len(procedures))
    write(("\n  ]" if written.records else "[]") + tail)
    return written


def release_errors(releases: Sequence[dict[str, Any]]) -> list[str]:
    """What makes releases invalid against the OCDS 1.1 release schema and the releaseTag codelist
    (empty when they are valid). Uses `jsonschema` when it is installed."""
    import jsonschema  # noqa: PLC0415 (a test dependency; checked only when asked)

    validator = jsonschema.Draft4Validator(release_schema())
    tags = release_tags()
    errors: list[str] = []
    for item in releases:
        for error in validator.iter_errors(item):
            where = "/".join(str(p) for p in error.absolute_path)
            errors.append(f"{item.get('id')}: {where}: {error.message}")
        errors += [
            f"{item.get('id')}: unknown tag {t!r}" for t in item.get("tag", []) if t not in tags
        ]
    return errors
