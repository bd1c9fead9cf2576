"""Golden tests on every real capture (issue 13): each field as the portal means it.

For each file of `tests/fixtures/real/` (copies of `samples/real/`, the large ones gzipped), an
expected-values file in `tests/fixtures/real/expected/` was written by reading the payload by hand;
its `from:` block names the portal field each value comes from. The tests parse the capture with
its source kind and compare field by field what a reader is shown (the stored snapshot's text,
the deadline in UTC and as shown, the départements, CPVs, lots, values, winners, type, links).
"""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from watcher.core import places, values
from watcher.core.deadlines import shown_for
from watcher.core.normalize import clean_text, format_value, snapshot
from watcher.records import NoticeRecord, RawPage
from watcher.sources.boamp import page_records, parse_record
from watcher.sources.contracts_finder import ContractsFinderSource
from watcher.sources.decp import DecpSource
from watcher.sources.place import PlaceSource

REAL = Path(__file__).parent / "fixtures" / "real"
EXPECTED = sorted((REAL / "expected").glob("*.yaml"))


def load(name: str) -> bytes:
    """A capture's bytes: gzipped copies and the DECP zip are opened transparently."""
    path = REAL / name
    if name.endswith(".gz"):
        return gzip.decompress(path.read_bytes())
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            [member] = archive.namelist()
            return archive.read(member)
    return path.read_bytes()


def parse(spec: dict[str, Any]) -> list[NoticeRecord]:
    """The notices of a capture, parsed by the source kind the expected file names."""
    content = load(spec["capture"])
    kind = spec["kind"]
    url = spec.get("url", f"https://example.invalid/{spec['capture']}")
    if kind == "boamp":
        if spec.get("unwrap"):
            content = json.dumps(json.loads(content)[spec["unwrap"]]).encode()
        return [n for r in page_records(content) if (n := parse_record(r)) is not None]
    if kind == "contracts_finder":
        config = ContractsFinderSource.Config(name="cf", kind="contracts_finder")
        return list(ContractsFinderSource(config).parse(RawPage(url=url, content=content)))
    if kind == "place":
        config = PlaceSource.Config(name="place", kind="place")
        page = RawPage(url=url, content=content, content_type="text/html; charset=utf-8")
        return list(PlaceSource(config).parse(page))
    if kind == "decp":
        config = DecpSource.Config(name="decp", kind="decp", urls=[url])
        return list(DecpSource(config).parse(RawPage(url=url, content=content)))
    raise AssertionError(f"unknown kind {kind}")


def _utc(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def view(notice: NoticeRecord) -> dict[str, Any]:
    """What a reader is shown of a notice, by the names the expected files use."""
    return {
        "title": clean_text(notice.title),
        "buyer": clean_text(notice.buyer),
        "published": notice.published.isoformat() if notice.published else None,
        "deadline_utc": _utc(notice.deadline),
        "deadline_shown": shown_for(notice.deadline, notice.deadline_local, notice.deadline_zone),
        "place": clean_text(notice.place),
        "departments": list(notice.departments),
        "cpv": list(notice.cpv),
        "lots": [
            {"number": lot.number, "title": clean_text(lot.title), "value": lot.value}
            for lot in notice.lots
        ],
        "value": notice.value,
        "tender_value": notice.tender_value,
        "currency": notice.currency,
        "value_shown": format_value(notice.value, notice.currency, notice.tender_value),
        "winners": [clean_text(w) for w in notice.winners],
        "notice_type": notice.notice_type,
        "url": notice.url,
        "procedure_id": notice.procedure_id,
        "related_ids": list(notice.related_ids),
        # Issue 24: each amount with its kind, how the procedure ended, subcontractors.
        "amounts_shown": values.shown(snapshot(notice)),
        "outcome": notice.outcome,
        "subcontractors": list(notice.subcontractors),
        "flags": list(notice.flags),
    }


SPECS = {path.stem: yaml.safe_load(path.read_text(encoding="utf-8")) for path in EXPECTED}
PARSED: dict[str, list[NoticeRecord]] = {}


def parsed(name: str) -> list[NoticeRecord]:
    if name not in PARSED:
        PARSED[name] = parse(SPECS[name])
    return PARSED[name]


def test_every_real_capture_has_a_fixture_copy_and_an_expected_file() -> None:
    captures = {p.name for p in REAL.iterdir() if p.is_file() and p.name != "PROVENANCE.md"}
    named = {spec["capture"] for spec in SPECS.values()}
    assert captures == named
    samples = Path("/work/shared/samples/real")
    if samples.is_dir():  # on the maintainers' machine: the copies are the captures
        for path in samples.iterdir():
            if (
                path.name == "README.md" or path.is_dir()
            ):  # eforms_xml/: read as eforms_xml_as_boamp_records.json
                continue
            copy = next((c for c in captures if c.split(".gz")[0] == path.name), None)
            if copy is None:  # a capture the tests do not read (the five other PLACE pages)
                continue
            kept = (REAL / copy).read_bytes() if copy.endswith(".zip") else load(copy)
            assert kept == path.read_bytes(), copy


@pytest.mark.parametrize("name", sorted(SPECS))
def test_capture_gives_the_expected_notice_count(name: str) -> None:
    notices = parsed(name)
    assert len(notices) == SPECS[name]["count"]
    assert len({n.native_id for n in notices}) == len(notices)  # none overwrites another
    types = SPECS[name].get("notice_types")
    if types:
        assert dict(collections.Counter(n.notice_type for n in notices)) == types


CASES = [
    pytest.param(name, native_id, field, value, id=f"{name}:{native_id}:{field}")
    for name, spec in sorted(SPECS.items())
    for native_id, fields in (spec.get("notices") or {}).items()
    for field, value in fields.items()
]


@pytest.mark.parametrize(("name", "native_id", "field", "expected"), CASES)
def test_field_is_as_the_portal_means_it(
    name: str, native_id: str, field: str, expected: Any
) -> None:
    by_id = {n.native_id: n for n in parsed(name)}
    assert native_id in by_id, sorted(by_id)[:10]
    notice = by_id[native_id]
    shown = view(notice)
    if field == "documents_include":
        assert set(expected) <= set(notice.documents), notice.documents
    elif field == "description_includes":
        assert all(text in (notice.description or "") for text in expected), notice.description
    elif field == "departments_count":
        assert len(notice.departments) == expected
    elif field == "departments_include":
        assert set(expected) <= set(notice.departments)
    else:
        assert shown[field] == expected


def test_no_malformed_département_in_any_capture() -> None:
    for name in SPECS:
        for notice in parsed(name):
            assert all(code in places.VALID for code in notice.departments), notice.native_id
            assert notice.department == (notice.departments[0] if notice.departments else None)


def test_the_whole_decp_file_loses_no_record_and_no_cpv() -> None:
    """4,530 records: each distinct one kept in its contract's evidence, each CPV kept."""
    spec = SPECS["decp_aife_2019_full"]
    records = json.loads(load(spec["capture"]))["marches"]
    assert len(records) == spec["records"]
    assert sum(1 for r in records if not r.get("id")) == spec["without_id"]
    notices = parsed("decp_aife_2019_full")
    kept: list[dict[str, Any]] = []
    for notice in notices:
        raw = json.loads(notice.raw)
        kept.extend(raw if isinstance(raw, list) else [raw])
    as_text = {json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records}
    kept_text = {json.dumps(r, sort_keys=True, ensure_ascii=False) for r in kept}
    assert len(as_text) == spec["distinct_records"] == len(kept) == len(kept_text)
    assert kept_text == as_text  # no record lost
    cpv_like = re.compile(r"^\s*(\d{7,8})(?!\d)")  # how the count in the expected file was made
    given = [m.group(1) for r in records if (m := cpv_like.match(str(r.get("codeCPV") or "")))]
    assert len(given) == spec["cpv_given"]
    assert sum(1 for c in given if len(c) == 7) == spec["cpv_7_digits"]
    all_cpv = {c for n in notices for c in n.cpv}
    assert {c.zfill(8) for c in given} <= all_cpv  # no CPV lost
    assert all(len(c) == 8 and c.isdigit() for c in all_cpv)
