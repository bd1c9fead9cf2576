"""Linking notices into procedures (issue 12, and issue 18 rows 3 and 13): identifiers first, a
later notice that reveals two stored procedures are one merges them, similarity only between
portals that can carry the same tender and with the same buyer, and bounded in time whatever the
size of a hostile title."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from watcher.core.linking import buyer_matches, can_share
from watcher.core.timeline import similarity
from watcher.db.models import Event, Notice, SourceState
from watcher.db.session import session_scope
from watcher.db.store import PollStore
from watcher.pipeline.runtime import Runtime
from watcher.records import NoticeRecord, RawPage, RunResult
from watcher.sources.boamp import parse_record
from watcher.sources.ted import notice_record

STORY = Path(__file__).parent / "fixtures" / "story"
NOW = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("boamp", "ted", True),
        ("ted", "place", True),
        ("find_a_tender", "contracts_finder", True),
        ("boamp", "html", False),
        ("html", "boamp", False),
        ("feed", "ted", False),
        ("decp", "boamp", False),
        ("boamp", "boamp", False),
        ("boamp", "find_a_tender", False),
    ],
)
def test_which_portals_can_carry_the_same_tender(a: str, b: str, expected: bool) -> None:
    assert can_share(a, b) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("MINISTERE DE L'INTERIEUR - SGAMI NORD", "SGAMI Nord", True),
        ("Ministère de l'Intérieur — SGAMI Nord", "MINISTERE DE L'INTERIEUR - SGAMI NORD", True),
        ("SGAMI Nord", "SGAMI Sud-Est", False),
        ("Ville de Dunkerque", "Grand Port Maritime de Dunkerque", False),
        ("Préfecture du Nord", "", False),
        (None, "SGAMI Nord", False),
    ],
)
def test_buyers_must_match(a: str | None, b: str | None, expected: bool) -> None:
    assert buyer_matches(a, b) is expected


def test_similarity_of_huge_texts_costs_no_more_than_of_short_ones() -> None:
    huge = {"title": "centre de rétention " * 50_000, "buyer": "SGAMI " * 100_000}
    normal = {"title": "Construction du centre de rétention de Dunkerque", "buyer": "SGAMI Nord"}
    started = time.perf_counter()
    for _ in range(20):
        similarity(huge, normal)
        similarity(huge, huge)
    assert time.perf_counter() - started < 1.0


def _boamp(round_: str, index: int) -> dict[str, Any]:
    data = json.loads((STORY / "boamp_rounds.json").read_text("utf-8"))
    return copy.deepcopy(data[round_][index])


def _ted(round_: str, index: int) -> dict[str, Any]:
    data = json.loads((STORY / "ted_rounds.json").read_text("utf-8"))
    return copy.deepcopy(data[round_][index])


def _poll(
    runtime: Runtime, name: str, kind: str, records: list[NoticeRecord], now: dt.datetime = NOW
) -> RunResult:
    """One poll of one source through the store, in one transaction."""
    result = RunResult(source=name)
    with session_scope(runtime.sessions) as session:
        state = session.scalar(select(SourceState).where(SourceState.name == name))
        if state is None:
            state = SourceState(name=name, kind=kind, consecutive_failures=0)
            session.add(state)
            session.flush()
        store = PollStore(session, state, runtime.matcher, now, result)
        store.add_page(RawPage(url=f"https://{name}.example/", content=b""), records)
        store.finish()
    return result


def test_a_later_notice_reveals_two_procedures_are_one(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime("sources: []\n")
    ted_cn = notice_record(_ted("2", 0))
    pin_raw = _boamp("1", 0)
    pin_raw["contractfolderid"] = "another-folder-id-of-the-pin"
    pin = parse_record(pin_raw)
    cn = parse_record(_boamp("2", 0))
    assert ted_cn and pin and cn
    pin = dataclasses.replace(pin, procedure_id="another-folder-id-of-the-pin")

    # TED's contract notice first (its own procedure), then BOAMP's PIN (another one).
    assert _poll(runtime, "ted", "ted", [ted_cn]).events == 1
    assert _poll(runtime, "boamp", "boamp", [pin], NOW + dt.timedelta(hours=1)).events == 1
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).where(Notice.parent_id.is_(None))) == 2
    # BOAMP's contract notice names the PIN (annonces_anterieures) and TED's procedure id.
    result = _poll(runtime, "boamp", "boamp", [cn], NOW + dt.timedelta(hours=2))
    assert result.merged == 1 and result.events == 0  # no second announcement
    with runtime.sessions() as session:
        notices = {n.native_id: n for n in session.scalars(select(Notice))}
        root = notices["712345-2026"]  # the first seen
        assert root.parent_id is None
        assert notices["26-90001"].parent_id == root.id
        assert notices["26-90001"].link_method == "merged"
        assert notices["26-120500"].parent_id == root.id
        kinds = sorted(session.scalars(select(Event.type)))
        assert kinds == ["new", "planned"]  # both histories kept
        refs = {link["ref"] for link in root.also or []}
        assert {"26-120500"} <= refs


def test_a_merge_keeps_the_call_for_tenders_told_once(
    make_runtime: Callable[..., Runtime],
) -> None:
    """The PIN first (its own folder id), then TED's contract notice (a procedure of its own,
    announced), then BOAMP's contract notice naming both: merged into the PIN's procedure, and the
    call for tenders, told already by TED's notice, is not told again."""
    runtime = make_runtime("sources: []\n")
    pin = parse_record(_boamp("1", 0))
    ted_cn = notice_record(_ted("2", 0))
    cn = parse_record(_boamp("2", 0))
    assert pin and ted_cn and cn
    pin = dataclasses.replace(pin, procedure_id="another-folder-id-of-the-pin")
    assert _poll(runtime, "boamp", "boamp", [pin]).events == 1
    assert _poll(runtime, "ted", "ted", [ted_cn], NOW + dt.timedelta(hours=1)).events == 1
    result = _poll(runtime, "boamp", "boamp", [cn], NOW + dt.timedelta(hours=2))
    assert result.merged == 1 and result.events == 0
    with runtime.sessions() as session:
        notices = {n.native_id: n for n in session.scalars(select(Notice))}
        root = notices["26-90001"]
        assert notices["712345-2026"].parent_id == root.id
        assert notices["712345-2026"].link_method == "merged"
        assert notices["26-120500"].parent_id == root.id
        assert root.deadline == ted_cn.deadline  # the procedure's deadline is the tender's
        assert sorted(session.scalars(select(Event.type))) == ["new", "planned"]


def test_ocds_related_processes_link_procedures(make_runtime: Callable[..., Runtime]) -> None:
    """A Find a Tender release naming an earlier procedure in `relatedProcesses` joins it."""
    runtime = make_runtime("sources: []\n")
    first = {"ocid": "ocds-h6vhtk-0aaaaa", "id": "1", "tag": ["tender"]}
    second = {
        "ocid": "ocds-h6vhtk-0bbbbb",
        "id": "2",
        "tag": ["award"],
        "relatedProcesses": [{"identifier": "ocds-h6vhtk-0aaaaa", "scheme": "ocid"}],
    }
    records = [
        NoticeRecord(
            native_id="041000-2026",
            title="Escorting services for immigration removal centres",
            buyer="Home Office",
            procedure_id=first["ocid"],
            raw=json.dumps(first),
        ),
        NoticeRecord(
            native_id="052000-2026",
            title="Award: escorting services for immigration removal centres",
            buyer="Home Office",
            notice_type="award",
            winners=("Exemplar Secure Transport Ltd",),
            procedure_id=second["ocid"],
            raw=json.dumps(second),
            published=dt.date(2026, 6, 1),
        ),
    ]
    _poll(runtime, "fts", "find_a_tender", records[:1])
    _poll(runtime, "fts", "find_a_tender", records[1:], NOW + dt.timedelta(days=1))
    with runtime.sessions() as session:
        notices = {n.native_id: n for n in session.scalars(select(Notice))}
    assert notices["052000-2026"].parent_id == notices["041000-2026"].id
    assert notices["052000-2026"].link_method == "procedure_id"
    assert notices["052000-2026"].phase == "award"


def _hostile(idweb: str) -> dict[str, Any]:
    record = _boamp("2", 0)
    record.update(idweb=idweb, id=idweb.replace("-", "_"), contractfolderid=None)
    record["objet"] = "Centre de rétention administrative " + "x" * 1_000_000
    record["nomacheteur"] = "SGAMI " + "y" * 1_000_000
    record["donnees"] = None
    return record


@pytest.mark.slow
def test_huge_titles_do_not_slow_later_polls(make_runtime: Callable[..., Runtime]) -> None:
    """Issue 18 row 3: five notices with a 1 MB title and buyer, then a poll of another portal
    with 13 notices of the same deadline day."""
    runtime = make_runtime("sources: []\n")
    hostile = [parse_record(_hostile(f"26-99{n:03d}")) for n in range(5)]
    _poll(runtime, "boamp", "boamp", [r for r in hostile if r])
    base = notice_record(_ted("2", 0))
    assert base is not None
    records = [
        dataclasses.replace(base, native_id=f"7123{n:02d}-2026", procedure_id=None)
        for n in range(13)
    ]
    started = time.perf_counter()
    result = _poll(runtime, "ted", "ted", records)
    assert time.perf_counter() - started < 5.0
    assert result.new == 13


def test_an_html_page_is_never_linked_to_boamp_by_similarity(
    make_runtime: Callable[..., Runtime],
) -> None:
    """Issue 18 row 13: an `html` source beside BOAMP, its notices titled like BOAMP's and due the
    same day, each makes its own event."""
    runtime = make_runtime("sources: []\n")
    cn = parse_record(_boamp("2", 0))
    assert cn is not None
    _poll(runtime, "boamp", "boamp", [dataclasses.replace(cn, related_ids=())])
    html = [
        NoticeRecord(
            native_id=f"avis-{n}",
            title=f"{cn.title} – lot {n}",
            url=f"https://prefecture.example/avis/{n}",
            buyer=cn.buyer,
            deadline=cn.deadline,
            description=cn.description,
        )
        for n in range(12)
    ]
    result = _poll(runtime, "prefecture", "html", html)
    assert result.new == 12 and result.events == 12
    with runtime.sessions() as session:
        linked = session.scalar(select(func.count()).where(Notice.parent_id.is_not(None)))
    assert linked == 0


def test_similarity_needs_the_same_buyer(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime("sources: []\n")
    cn = parse_record(_boamp("2", 0))
    ted_cn = notice_record(_ted("2", 0))
    assert cn and ted_cn
    _poll(runtime, "boamp", "boamp", [dataclasses.replace(cn, related_ids=(), procedure_id=None)])
    other_buyer = dataclasses.replace(ted_cn, procedure_id=None, buyer="Ville de Calais")
    same_buyer = dataclasses.replace(ted_cn, native_id="712346-2026", procedure_id=None)
    result = _poll(runtime, "ted", "ted", [other_buyer, same_buyer])
    with runtime.sessions() as session:
        notices = {n.native_id: n for n in session.scalars(select(Notice))}
    assert notices["712345-2026"].parent_id is None  # another buyer: another tender, announced
    assert notices["712346-2026"].link_method == "similarity"
    assert (notices["712346-2026"].link_confidence or 0) >= 0.85
    assert result.events == 1
