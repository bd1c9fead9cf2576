"""`watcher audit`: the completeness counts, over the real DECP file and Contracts Finder page
stored through a real poll, and the maintainers' alert after a poll whose shares jump (issue 13)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer, Reply, Request
from tests.test_real_captures import load
from watcher.cli import main
from watcher.core.audit import Audit, audit, jumps, raw_cpvs
from watcher.db.models import MaintainerAlert
from watcher.pipeline.audit import audit_after_polls, audit_all
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
DECP = load("decp_aife_2019_full.json.zip")
CF = load("cf_ocds_search_page_2025-01-23_100releases.json.gz")


def snap(**fields: Any) -> dict[str, Any]:
    base = {
        "notice_type": "notice",
        "deadline": "2027-01-04T11:00:00+00:00",
        "buyer": "SGAMI Nord",
        "cpv": ["45216113"],
        "departments": ["59"],
        "value": 1000.0,
    }
    return base | fields


@pytest.mark.parametrize(
    ("fields", "check"),
    [
        ({"deadline": None}, "no_deadline"),
        ({"buyer": None}, "no_buyer"),
        ({"cpv": []}, "no_cpv"),
        ({"departments": []}, "no_department"),
        ({"departments": ["33000"]}, "bad_department"),
        ({"departments": ["078"]}, "bad_department"),
        ({"value": -5.0}, "bad_value"),
        ({"value": 3e12}, "bad_value"),
    ],
    ids=lambda v: str(v),
)
def test_each_check_counts_what_it_names(fields: dict[str, Any], check: str) -> None:
    found = audit("x", [(snap(), None), (snap(**fields), None)])
    assert found.counts[check] == 1
    assert sum(found.counts.values()) == 1


def test_an_award_without_deadline_is_not_missing_one() -> None:
    found = audit("x", [(snap(notice_type="award", deadline=None), None)])
    assert found.counts["no_deadline"] == 0
    assert found.calls == 0


def test_raw_cpvs_are_read_from_every_portal_shape() -> None:
    assert raw_cpvs('{"codeCPV": "9310000"}') == {"09310000"}
    assert raw_cpvs('{"donnees": "{\\"classPrincipale\\": \\"45432111\\"}"}') == {"45432111"}
    assert raw_cpvs('{"@listName": "cpv", "#text": "71351810"}') == {"71351810"}
    assert raw_cpvs('{"classification":{"id":"66510000","scheme":"CPV"}}') == {"66510000"}
    lost = audit("x", [(snap(cpv=[]), '{"codeCPV": "9310000"}')])
    assert lost.lost_cpv == 1


def test_a_share_that_jumps_is_told_and_a_usual_one_is_not() -> None:
    usual = audit("x", [(snap(), None)] * 40)
    bad = audit("x", [(snap(deadline=None, cpv=[]), None)] * 20)
    assert jumps(bad, usual) == [
        "no deadline (calls for tenders): 100% of this poll's notices, usually 0%",
        "no CPV: 100% of this poll's notices, usually 0%",
    ]
    assert jumps(audit("x", [(snap(), None)] * 20), usual) == []
    assert jumps(audit("x", [(snap(deadline=None), None)] * 3), usual) == []  # too few to say


def portal(request: Request) -> Reply:
    if request.path == "/decp.json":
        return Reply(200, DECP)
    if request.path == "/Published/Notices/OCDS/Search":
        if request.param("cursor"):
            return Reply(200, json.dumps({"releases": [], "links": {}}).encode())
        return Reply(200, CF)
    return Reply(404, b"{}")


SOURCES = """sources:
  - name: decp-aife
    kind: decp
    base_url: {url}
    urls: [/decp.json]
  - name: contracts-finder
    kind: contracts_finder
    base_url: {url}
"""


@pytest.fixture
def stored(make_runtime: Callable[..., Runtime]) -> Runtime:
    with LoopbackServer(portal) as server:
        runtime = make_runtime(SOURCES.format(url=server.url))
        ctx = runtime.context()
        ctx.clock = lambda: NOW
        results = run_sources(runtime.config.build(), ctx)
        assert all(r.ok for r in results), [r.error for r in results]
    return runtime


def test_the_real_decp_file_and_cf_page_lose_nothing(stored: Runtime) -> None:
    """The counts of the issue's closing note, on what a real poll stored."""
    with stored.sessions() as session:
        found = {a.source: a for a in audit_all(session)}
    decp, cf = found["decp-aife"], found["contracts-finder"]
    # 4,530 records: 4,363 distinct, in 4,270 contracts (repeats kept as versions), none lost.
    assert (decp.notices, decp.records) == (4270, 4363)
    assert decp.counts["bad_department"] == 0
    assert decp.lost_cpv == 0
    assert decp.counts["no_cpv"] == 14  # records whose `codeCPV` is empty or one digit
    assert decp.counts["bad_value"] == 0
    assert (cf.notices, cf.records) == (100, 100)
    assert cf.counts["bad_department"] == 0
    assert cf.lost_cpv == 0
    assert isinstance(decp, Audit)


def test_audit_command_prints_the_counts(stored: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in runtime_env(stored).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["audit", "--source", "decp-aife"])
    assert result.exit_code == 0, result.output
    assert "decp-aife: 4270 notice(s)" in result.output
    assert "malformed département: 0 (0.0%)" in result.output
    assert "CPV given by the portal but lost: 0" in result.output
    assert "portal records kept as evidence: 4363" in result.output
    unknown = CliRunner().invoke(main, ["audit", "--source", "nope"])
    assert unknown.exit_code == 1
    assert "no stored source named 'nope'" in unknown.output
    assert "Traceback" not in unknown.output


def test_a_poll_whose_notices_lose_their_deadlines_alerts_the_maintainers(
    make_runtime: Callable[..., Runtime],
) -> None:
    from tests.helpers import BoampPortal  # noqa: PLC0415

    boamp = BoampPortal("page_eforms.json")
    base = next(r for r in boamp.records if r.get("etat") == "INITIAL")  # a call for tenders
    good = [dict(base, idweb=f"26-{10000 + i}", id=f"26_{10000 + i}") for i in range(30)]
    with LoopbackServer(boamp) as server:
        runtime = make_runtime(
            f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: {server.url}\n"
        )
        ctx = runtime.context()
        boamp.records = good
        ctx.clock = lambda: NOW
        [first] = run_sources(runtime.config.build(), ctx)
        assert audit_after_polls(runtime, [first], NOW) == []
        broken = [
            dict(
                base,
                idweb=f"26-{20000 + i}",
                id=f"26_{20000 + i}",
                donnees="{}",
                datelimitereponse=None,
            )
            for i in range(30)
        ]
        boamp.records = broken
        later = NOW + dt.timedelta(hours=1)
        ctx.clock = lambda: later
        [second] = run_sources(runtime.config.build(), ctx)
    lines = audit_after_polls(runtime, [second], later)
    assert lines and "no deadline (calls for tenders): 100%" in lines[0]
    with runtime.sessions() as session:
        [alert] = session.scalars(select(MaintainerAlert)).all()
    assert (alert.source, alert.kind, alert.closed_at) == ("boamp", "audit", None)
    assert "no CPV: 100%" in alert.reason


def test_stored_notices_keep_every_departement_and_the_portals_deadline(
    make_runtime: Callable[..., Runtime],
) -> None:
    """A poll of the real FNSimple records: the lists are stored, filtered on, and shown."""
    from tests.helpers import BoampPortal  # noqa: PLC0415
    from watcher.db.models import Notice  # noqa: PLC0415
    from watcher.web.api import notice_json  # noqa: PLC0415
    from watcher.web.listing import Filters, Paging, list_notices  # noqa: PLC0415
    from watcher.web.pages import deadline_text  # noqa: PLC0415

    boamp = BoampPortal()
    capture = json.loads(load("boamp_v21_fnsimple_2026-01-21_5records.json"))
    boamp.records = capture["data"]["results"]
    with LoopbackServer(boamp) as server:
        runtime = make_runtime(
            f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: {server.url}\n"
        )
        ctx = runtime.context()
        ctx.clock = lambda: NOW
        [result] = run_sources(runtime.config.build(), ctx)
        assert result.ok, result.error
    with runtime.sessions() as session:
        notices = {n.native_id: n for n in session.scalars(select(Notice))}
        urssaf = notices["26-7308"]
        assert urssaf.departments == ["76", "14", "27", "50", "61"]
        assert urssaf.department == "76"  # the first, for code that reads one
        assert (urssaf.deadline_local, urssaf.deadline_zone) == ("2026-02-27T12:00", "Europe/Paris")
        assert deadline_text(urssaf) == "27/02/2026 12:00"
        assert notice_json(urssaf)["departments"] == ["76", "14", "27", "50", "61"]
        assert notice_json(urssaf)["deadline_shown"] == "27/02/2026 12:00"
        found = list_notices(session, Filters(department="27"), Paging(), relevant=None)
        assert [n.native_id for n in found.items] == ["26-7308"]  # Eure: not its first
        gendarmerie = list_notices(session, Filters(department="52"), Paging(), relevant=None)
        assert [n.native_id for n in gendarmerie.items] == ["26-7113"]
        assert list_notices(session, Filters(department="2"), Paging(), relevant=None).total == 0


def test_the_audit_reads_a_poll_of_many_notices_in_batches(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 29: the audit after a first poll held every snapshot at once (1 GB at 100,000
    notices); it reads them `BATCH` at a time, with the same counts."""
    import tracemalloc  # noqa: PLC0415

    from watcher.db.models import Notice, SourceState  # noqa: PLC0415
    from watcher.db.session import session_scope  # noqa: PLC0415
    from watcher.pipeline import audit as stage  # noqa: PLC0415

    runtime = make_runtime("sources: []\n")
    words = "centre de rétention administrative " * 600  # ~20 KB a snapshot
    with session_scope(runtime.sessions) as session:
        source = SourceState(name="boamp", kind="boamp")
        session.add(source)
        session.flush()
        session.add_all(
            Notice(
                source_id=source.id,
                native_id=f"n{i}",
                title="x",
                notice_type="notice",
                snapshot=snap(description=words, deadline=None if i % 2 else "2027-01-01"),
                content_hash="0" * 64,
                first_seen_at=NOW,
                last_seen_at=NOW,
            )
            for i in range(200)
        )
    monkeypatch.setattr(stage, "BATCH", 10)
    with runtime.sessions() as session:
        source = session.scalars(select(SourceState)).one()
        tracemalloc.start()
        try:
            stage.poll_jumps(session, source)
            [whole] = audit_all(session, raw=False)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert (whole.notices, whole.counts["no_deadline"]) == (200, 100)
    assert peak < 200 * len(words) / 2  # a few batches (was 3× the 4 MB of snapshots)
