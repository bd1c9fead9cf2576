"""Portals fail in every way; the watcher keeps working, loses nothing, announces nothing falsely.

Each fault is injected by the loopback portal: after it, the feed is unchanged, nothing hangs, no
traceback reaches the user, and the next run recovers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer, Reply, Request
from tests.test_pipeline import BoampPortal, feed_entries, sources_yaml
from watcher.cli import main
from watcher.db.models import SourceState
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime

ATOM = "{http://www.w3.org/2005/Atom}"
MAINTENANCE = b"<html><body><h1>Maintenance en cours</h1><p>Revenez plus tard.</p></body></html>"


class FaultyPortal(BoampPortal):
    """The BOAMP portal, with the next answers replaced by faults."""

    def __init__(self) -> None:
        super().__init__()
        self.faults: list[Reply] = []
        self.always: Reply | None = None

    def __call__(self, request: Request) -> Reply:
        if self.faults:
            return self.faults.pop(0)
        if self.always is not None:
            return self.always
        return super().__call__(request)


@pytest.fixture
def portal() -> Iterator[tuple[FaultyPortal, LoopbackServer]]:
    handler = FaultyPortal()
    with LoopbackServer(handler) as server:
        yield handler, server


def ids(runtime: Runtime) -> list[str]:
    return [e.findtext(f"{ATOM}id") or "" for e in feed_entries(runtime)]


def cli_run(runtime: Runtime) -> Any:
    env = runtime_env(runtime, WATCHER_HTTP_RETRIES="2", WATCHER_HTTP_TIMEOUT="1")
    return CliRunner(env=env).invoke(main, ["run", "--once"])


def json_error(status: int, **headers: str) -> Reply:
    return Reply(status, b'{"error": "boom"}', {"Content-Type": "application/json", **headers})


FAULTS: dict[str, Callable[[], list[Reply]]] = {
    "500-three-times": lambda: [json_error(500)] * 3,
    "timeout": lambda: [Reply(200, b"{}", delay=1.5)] * 3,
    "truncated-body": lambda: [Reply(200, b'{"total_count": 3, "results": [', truncate=True)] * 3,
    "maintenance-page": lambda: [Reply(200, MAINTENANCE, {"Content-Type": "text/html"})],
    "reset-connection": lambda: [Reply(reset=True)] * 3,
    "json-garbage": lambda: [Reply(200, b'{"total_count": 3, "results": [{"idweb": ')],
    "404": lambda: [json_error(404)],
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_leaves_feed_unchanged_and_next_run_recovers(
    fault: str,
    portal: tuple[FaultyPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
) -> None:
    handler, server = portal
    runtime = make_runtime(sources_yaml(server.url))
    assert cli_run(runtime).exit_code == 0
    before = ids(runtime)
    assert before

    handler.load("poll_page_moved_deadline.json")  # a change is waiting behind the fault
    handler.faults = FAULTS[fault]()
    started = time.monotonic()
    result = cli_run(runtime)
    assert time.monotonic() - started < 20, "a fault must never hang a run"
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "boamp: FAILED" in result.output
    assert ids(runtime) == before  # nothing half-stored, nothing announced
    with runtime.sessions() as session:
        state = session.scalars(select(SourceState)).one()
        assert state.consecutive_failures == 1 and state.last_error

    handler.faults = []
    result = cli_run(runtime)
    assert result.exit_code == 0, result.output
    after = ids(runtime)
    assert len(after) == len(before) + 1  # the moved deadline, once
    assert after[1:] == before


def test_passing_faults_are_retried_and_retry_after_is_honoured(
    portal: tuple[FaultyPortal, LoopbackServer], make_runtime: Callable[..., Runtime]
) -> None:
    handler, server = portal
    runtime = make_runtime(sources_yaml(server.url), http_retries=3)
    waits: list[float] = []
    ctx = runtime.context()
    ctx.sleep = waits.append
    handler.faults = [json_error(500), json_error(500), json_error(429, **{"Retry-After": "7"})]
    [result] = run_sources(runtime.config.build(), ctx)
    assert result.ok, result.error
    assert 7.0 in waits  # Retry-After honoured
    assert len(feed_entries(runtime)) == result.events > 0


def test_empty_answer_is_flagged_never_announced(
    portal: tuple[FaultyPortal, LoopbackServer], make_runtime: Callable[..., Runtime]
) -> None:
    handler, server = portal
    runtime = make_runtime(sources_yaml(server.url))
    run_sources(runtime.config.build(), runtime.context())
    before = ids(runtime)
    handler.always = Reply(200, b'{"total_count": 0, "results": []}')
    [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.ok and result.events == 0
    assert result.flagged and "returned nothing" in result.flagged
    assert ids(runtime) == before  # nothing "removed", nothing "changed"
    with runtime.sessions() as session:
        assert session.scalars(select(SourceState.flagged)).one() == result.flagged
    handler.always = None
    [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.ok and result.flagged is None


@pytest.mark.parametrize(
    ("failures", "rest_minutes"),
    [(0, None), (2, None), (3, 15), (4, 30), (5, 60), (9, 960), (10, 1440), (500, 1440)],
)
def test_breaker_rest_doubles_up_to_a_day(failures: int, rest_minutes: int | None) -> None:
    import datetime as dt  # noqa: PLC0415

    from watcher.pipeline.breaker import rest_after  # noqa: PLC0415

    rest = rest_after(failures)
    assert (rest.total_seconds() / 60 if rest else None) == rest_minutes
    assert rest is None or rest <= dt.timedelta(days=1)


def test_a_failing_source_rests_then_recovers_by_itself(
    portal: tuple[FaultyPortal, LoopbackServer], make_runtime: Callable[..., Runtime]
) -> None:
    import datetime as dt  # noqa: PLC0415

    from watcher.pipeline.poll import run_source  # noqa: PLC0415

    handler, server = portal
    runtime = make_runtime(sources_yaml(server.url), http_retries=0)
    [source] = runtime.config.build()
    clock = [dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)]
    ctx = runtime.context()
    ctx.clock = lambda: clock[0]
    handler.always = json_error(503)
    for _ in range(3):
        assert not run_source(source, ctx, breaker=True).ok
    asked = len(server.requests)
    rested = run_source(source, ctx, breaker=True)  # the breaker is open: the portal is spared
    assert rested.skipped and "resting until 26/11/2026 13:15 CET" in rested.skipped
    assert len(server.requests) == asked
    assert run_source(source, ctx, breaker=False).ok is False  # --force still tries
    handler.always = None  # the portal is back
    clock[0] += dt.timedelta(minutes=31)
    recovered = run_source(source, ctx, breaker=True)
    assert recovered.ok and recovered.new > 0
    with runtime.sessions() as session:
        assert session.scalars(select(SourceState.consecutive_failures)).one() == 0
