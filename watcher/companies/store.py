"""The company stage: after a round of polls, winners of stored award notices become companies.

The winners each award notice names (`watcher.companies.extract`) are kept per notice version in
`company_awards`: after a round only the award notices it added or changed (or whose winners could
not be read) are read again, in batches (`update_companies()`); `refresh_companies()`, behind
`watcher companies refresh`, reads every one again. Both then resolve every kept winner into
companies (`watcher.companies.resolve`, with the maintainers' `companies.yaml`: an edit takes effect
at the next round), count each contract once, and write to the `companies` and `company_contracts`
tables only what differs from what they hold, in one transaction: the result is the same whichever
way it was reached, and nothing is ever half-merged. Slugs are derived from names (or set in
`companies.yaml`), so addresses and subscriptions stay put across rebuilds (issue 29: the rebuild
read every award's payload at every round).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Select, and_, delete, or_, select
from sqlalchemy.orm import Session, aliased

from watcher.companies.extract import EXTRACTOR, Award, awards
from watcher.companies.resolve import (
    Cluster,
    Identifier,
    Mention,
    Overrides,
    load_overrides,
    resolve,
)
from watcher.db.models import (
    Company,
    CompanyAwards,
    CompanyContract,
    Notice,
    NoticeVersion,
    SourceState,
)

if TYPE_CHECKING:
    from watcher.pipeline.runtime import Runtime

log = logging.getLogger("watcher.companies.resolve")
FILE_NAME = "companies.yaml"
BATCH = 200  # award notices read at a time: memory holds one batch of payloads


def overrides_path(sources_path: Path) -> Path:
    """`companies.yaml` lives next to `sources.yaml`."""
    return sources_path.parent / FILE_NAME


def read_overrides(path: Path) -> Overrides:
    """The override file, or no overrides when there is none (`ConfigError` when it is wrong)."""
    if not path.exists():
        return Overrides()
    return load_overrides(path.read_text(encoding="utf-8"), str(path))


@dataclass(slots=True)
class Skipped:
    """Notices whose winners could not be read in a rebuild: skipped, counted and named."""

    notices: list[str] = field(default_factory=list)

    def add(self, notice: Notice, exc: Exception) -> None:
        """One notice skipped: named in the maintainers' log with why."""
        name = f"{notice.id} ({notice.native_id})"
        self.notices.append(name)
        log.warning("companies: notice %s skipped: %s: %s", name, type(exc).__name__, exc)

    def line(self) -> str:
        """`, 2 notice(s) skipped (see the log)`, or nothing."""
        return f", {len(self.notices)} notice(s) skipped (see the log)" if self.notices else ""


class SourceKind(NamedTuple):
    """The portal kind of an award notice's source (what `_rank` reads)."""

    kind: str


@dataclass(frozen=True, slots=True)
class AwardNotice:
    """What the rebuild reads of an award notice besides its winners: where it stands in its
    procedure, and the procedure's first notice (`root_id`, the notice itself when it is first)."""

    id: int
    parent_id: int | None
    published: dt.date | None
    native_id: str
    source: SourceKind
    site: str | None
    relevant: bool
    root_id: int
    root_site: str | None
    root_relevant: bool


def _stale(full: bool) -> Select[tuple[int]]:
    """Award notices whose kept winners are missing, of another version or extractor, or could
    not be read last time (every award notice when `full`)."""
    query = select(Notice.id).where(Notice.notice_type == "award").order_by(Notice.id)
    if full:
        return query
    kept = CompanyAwards
    return query.outerjoin(kept, kept.notice_id == Notice.id).where(
        or_(
            kept.notice_id.is_(None),
            kept.version != Notice.version,
            kept.content_hash != Notice.content_hash,
            kept.extractor != EXTRACTOR,
            kept.error.is_not(None),
        )
    )


def _as_json(award: Award) -> dict[str, Any]:
    return {
        "name": award.mention.name,
        "identifiers": [[i.scheme, i.value, i.valid] for i in award.mention.identifiers],
        "amount": award.amount,
        "currency": award.currency,
        "amount_kind": award.amount_kind,
        "shared": award.shared,
        "lot": award.lot,
        "role": award.role,
    }


def _from_json(item: dict[str, Any], ref: str) -> Award:
    ids = tuple(Identifier(str(s), str(v), bool(ok)) for s, v, ok in item["identifiers"])
    return Award(
        Mention(name=item["name"], identifiers=ids, ref=ref),
        item["amount"],
        item["currency"],
        item["amount_kind"],
        item["shared"],
        item["lot"],
        item["role"],
    )


def read_awards(session: Session, skipped: Skipped, *, full: bool = False) -> int:
    """Read the winners of the award notices whose kept ones are stale (all when `full`) into
    `company_awards`, `BATCH` notices at a time; forget those of notices that are no longer
    award notices. How many notices were read. A notice whose winners cannot be read is kept
    with the error, counted in `skipped`, and read again at the next rebuild (issue 24).
    The session is flushed and its objects detached after each batch."""
    ids = list(session.scalars(_stale(full)))
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        rows = session.execute(
            select(Notice, SourceState.kind, NoticeVersion.raw)
            .join(SourceState, SourceState.id == Notice.source_id)
            .outerjoin(
                NoticeVersion,
                and_(NoticeVersion.notice_id == Notice.id, NoticeVersion.version == Notice.version),
            )
            .where(Notice.id.in_(batch))
            .order_by(Notice.id)
        ).all()
        session.execute(delete(CompanyAwards).where(CompanyAwards.notice_id.in_(batch)))
        for notice, kind, raw in rows:
            found: list[dict[str, Any]] = []
            error = None
            try:
                found = [
                    _as_json(a)
                    for a in awards(
                        kind, notice.notice_type, notice.snapshot or {}, raw or "", f"{notice.id}"
                    )
                ]
            except Exception as exc:  # noqa: BLE001 - one notice never stops the rebuild (issue 24)
                skipped.add(notice, exc)
                error = f"{type(exc).__name__}: {exc}"
            session.add(
                CompanyAwards(
                    notice_id=notice.id,
                    version=notice.version,
                    content_hash=notice.content_hash,
                    extractor=EXTRACTOR,
                    awards=found,
                    error=error,
                )
            )
        session.flush()
        session.expunge_all()  # one batch of payloads in memory at a time
    award = select(Notice.id).where(
        Notice.id == CompanyAwards.notice_id, Notice.notice_type == "award"
    )
    session.execute(delete(CompanyAwards).where(~award.exists()))
    return len(ids)


def _kept_awards(session: Session) -> list[tuple[AwardNotice, Award]]:
    """Every kept winner with its notice, in notice order: what the companies are made of."""
    root = aliased(Notice)
    rows = session.execute(
        select(
            Notice.id,
            Notice.parent_id,
            Notice.published,
            Notice.native_id,
            SourceState.kind,
            Notice.site,
            Notice.relevant,
            root.id,
            root.site,
            root.relevant,
            CompanyAwards.awards,
        )
        .join(SourceState, SourceState.id == Notice.source_id)
        .join(CompanyAwards, CompanyAwards.notice_id == Notice.id)
        .outerjoin(root, root.id == Notice.parent_id)
        .where(Notice.notice_type == "award")
        .order_by(Notice.id)
    )
    found: list[tuple[AwardNotice, Award]] = []
    for nid, parent, published, native, kind, site, relevant, rid, rsite, rrel, items in rows:
        notice = AwardNotice(
            id=nid,
            parent_id=parent,
            published=published,
            native_id=native,
            source=SourceKind(kind),
            site=site,
            relevant=bool(relevant),
            root_id=nid if rid is None else rid,
            root_site=site if rid is None else rsite,
            root_relevant=bool(relevant if rid is None else rrel),
        )
        found += [(notice, _from_json(item, f"{nid}")) for item in items or []]
    return found


def _lot(lot: str | None) -> str | None:
    """A lot as portals number it alike: `LOT-0001`, `1` and `Lot 1` are lot 1."""
    if not lot:
        return None
    digits = "".join(c for c in lot if c.isdigit()).lstrip("0")
    return digits or lot.strip().casefold()


def counted_once(found: Sequence[tuple[AwardNotice, Award]], slug_of: dict[int, str]) -> list[int]:
    """Which of the winners `found` are contracts (their indexes, in order): one per procedure,
    company and lot (issue 23). The same award on several portals, or an award published again
    or amended, is one contract: the latest notice's (a national portal's on the same day, TED
    republishing it), so an amendment changes its amount. A notice naming no lot says less than
    one naming the company's lots: it is the same award."""
    newest: dict[tuple[tuple[int, str], str, str | None], int] = {}
    with_lots: set[tuple[tuple[int, str], str]] = set()
    for i, (notice, award) in enumerate(found):
        # A winner and a subcontractor of the same award are two contracts (issue 24).
        procedure = (notice.parent_id or notice.id, award.role)
        key = (procedure, slug_of[i], _lot(award.lot))
        if key[2] is not None:
            with_lots.add(key[:2])
        best = newest.get(key)
        if best is None or _rank(notice) >= _rank(found[best][0]):
            newest[key] = i
    return sorted(i for key, i in newest.items() if key[2] is not None or key[:2] not in with_lots)


def _rank(notice: AwardNotice) -> tuple[dt.date, bool, str]:
    """Which of two notices of the same award is the one that counts (the larger)."""
    return (notice.published or dt.date.min, notice.source.kind != "ted", notice.native_id)


def _ids_json(identifiers: Iterable[Identifier]) -> list[dict[str, Any]]:
    return [dict(_id_json(i)) for i in identifiers]


@functools.lru_cache(maxsize=4096)
def _id_json(i: Identifier) -> tuple[tuple[str, Any], ...]:
    """An identifier as stored, its label formatted once (`stdnum` is slow to format)."""
    return (("scheme", i.scheme), ("value", i.value), ("valid", i.valid), ("label", i.label()))


# A contract row's columns, in the order `_contract_key` gives them.
_CONTRACT_COLUMNS = (
    "company_id",
    "notice_id",
    "procedure_notice_id",
    "name",
    "identifiers",
    "lot",
    "amount",
    "currency",
    "amount_kind",
    "shared",
    "role",
    "awarded_on",
    "site",
    "relevant",
)


def _contract_key(values: Sequence[Any]) -> tuple[Any, ...]:
    """A contract's columns, hashable (identifiers as canonical JSON)."""
    out = list(values)
    out[4] = tuple(
        (i.get("scheme"), i.get("value"), i.get("valid"), i.get("label")) for i in out[4] or ()
    )
    return tuple(out)


def _write_companies(
    session: Session, clusters: Sequence[Cluster], now: dt.datetime
) -> dict[str, int]:
    """Make the `companies` table hold `clusters`, touching only the rows that differ (their
    `updated_at` says when they last changed); slug → id."""
    stored = {c.slug: c for c in session.scalars(select(Company))}
    wanted = {c.slug for c in clusters}
    gone = [c.id for slug, c in stored.items() if slug not in wanted]
    if gone:
        session.execute(delete(CompanyContract).where(CompanyContract.company_id.in_(gone)))
        session.execute(delete(Company).where(Company.id.in_(gone)))
    ids: dict[str, int] = {}
    for cluster in clusters:
        values = {
            "name": cluster.name,
            "parent": cluster.parent,
            "identifiers": _ids_json(cluster.identifiers),
            "names": cluster.names,
            "evidence": [e.as_dict() for e in cluster.evidence],
            "confidence": cluster.confidence,
        }
        company = stored.get(cluster.slug)
        if company is None:
            company = Company(slug=cluster.slug, updated_at=now, **values)
            session.add(company)
        elif any(getattr(company, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(company, key, value)
            company.updated_at = now
        else:
            ids[cluster.slug] = company.id
            continue
        session.flush()
        ids[cluster.slug] = company.id
    return ids


def _write_contracts(session: Session, wanted: list[tuple[Any, ...]]) -> None:
    """Make the `company_contracts` table hold `wanted` (rows of `_CONTRACT_COLUMNS`): delete
    the rows no longer wanted, insert the new ones, leave the others as they are."""
    columns = [getattr(CompanyContract, name) for name in _CONTRACT_COLUMNS]
    missing = Counter(_contract_key(row) for row in wanted)
    extra: list[int] = []
    for row_id, *values in session.execute(select(CompanyContract.id, *columns)):
        key = _contract_key(values)
        if missing[key] > 0:
            missing[key] -= 1
        else:
            extra.append(row_id)
    for start in range(0, len(extra), 500):
        chunk = extra[start : start + 500]
        session.execute(delete(CompanyContract).where(CompanyContract.id.in_(chunk)))
    for row in wanted:
        key = _contract_key(row)
        if missing[key] > 0:
            missing[key] -= 1
            session.add(CompanyContract(**dict(zip(_CONTRACT_COLUMNS, row, strict=True))))
    session.flush()


def _rebuild(
    session: Session, overrides: Overrides, now: dt.datetime, skipped: Skipped, *, full: bool
) -> int:
    read = read_awards(session, skipped, full=full)
    found = _kept_awards(session)
    mentions = [award.mention for _, award in found]
    clusters = resolve(mentions, overrides)
    # By the mention object: one winner named twice in a notice (several lots, or listed twice)
    # may be the same object at several places of `mentions` (issue 24: a KeyError before).
    slug_by_mention = {id(m): cluster.slug for cluster in clusters for m in cluster.mentions}
    slug_of = {i: slug_by_mention[id(m)] for i, m in enumerate(mentions)}
    ids = _write_companies(session, clusters, now)
    wanted = []
    for i in counted_once(found, slug_of):
        notice, award = found[i]
        wanted.append(
            (
                ids[slug_of[i]],
                notice.id,
                notice.root_id,
                award.mention.name,
                _ids_json(award.mention.identifiers),
                award.lot,
                award.amount,
                award.currency,
                award.amount_kind,
                award.shared,
                award.role,
                notice.published,
                notice.site or notice.root_site,
                bool(notice.relevant or notice.root_relevant),
            )
        )
    _write_contracts(session, wanted)
    subs = sum(1 for _, award in found if award.role == "subcontractor")
    log.info(
        "companies: %d from %d winners and %d subcontractors (%d award notice(s) read)",
        len(clusters),
        len(mentions) - subs,
        subs,
        read,
    )
    if skipped.notices:
        log.warning(
            "companies: %d notice(s) skipped: %s", len(skipped.notices), ", ".join(skipped.notices)
        )
    return len(clusters)


def refresh_companies(
    session: Session, overrides: Overrides, now: dt.datetime, skipped: Skipped | None = None
) -> int:
    """Rebuild companies and their contracts from every stored award notice, each read again;
    how many companies.

    A notice whose winners cannot be read is skipped, counted in `skipped` and named in the log;
    the other companies are rebuilt (issue 24)."""
    skipped = Skipped() if skipped is None else skipped
    return _rebuild(session, overrides, now, skipped, full=True)


def update_companies(
    session: Session, overrides: Overrides, now: dt.datetime, skipped: Skipped | None = None
) -> int:
    """What follows a round: `refresh_companies()`, reading again only the award notices whose
    winners are not kept for their current version; the same result."""
    skipped = Skipped() if skipped is None else skipped
    return _rebuild(session, overrides, now, skipped, full=False)


def company_procedures(slugs: Sequence[str]) -> Select[tuple[int]]:
    """Ids of the first notices of the procedures won by the companies `slugs` (a group's slug
    takes its subsidiaries too): what a company's feed and its subscribers follow."""
    return (
        select(CompanyContract.procedure_notice_id)
        .join(Company, Company.id == CompanyContract.company_id)
        .where(or_(Company.slug.in_(slugs), Company.parent.in_(slugs)))
    )


def known_companies(runtime: Runtime, slugs: Sequence[str]) -> bool:
    """Whether every slug names a stored company (a subscription form's check)."""
    with runtime.sessions() as session:
        found = set(session.scalars(select(Company.slug).where(Company.slug.in_(slugs))))
    return found == set(slugs)
