"""A portal that answers one byte at a time (issue 18, row 4): the request and the poll end by
their deadlines, with one line, and the next sources still run; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.helpers import BoampPortal, runtime_env
from tests.loopback import LoopbackServer, Reply, Request
from watcher.cli import main
from watcher.db.models import Notice, SourceState
from watcher.pipeline.runtime import Runtime


class SlowPortal(BoampPortal):
    """The BOAMP API, each answer sent as `slow` says (dripping, or late)."""

    def __init__(self, slow: Callable[[Reply], Reply]) -> None:
        super().__init__()
        self.slow = slow

    def __call__(self, request: Request) -> Reply:
        return self.slow(super().__call__(request))


def two_sources(slow_url: str, fast_url: str) -> str:
    return (
        "sources:\n"
        f"  - name: slow\n    kind: boamp\n    base_url: {slow_url}\n"
        f"  - name: boamp\n    kind: boamp\n    base_url: {fast_url}\n"
    )


def run_once(runtime: Runtime, **env: str) -> tuple[str, int, float]:
    variables = runtime_env(runtime, WATCHER_HTTP_RETRIES="1", WATCHER_HTTP_TIMEOUT="5", **env)
    started = time.monotonic()
    result = CliRunner(env=variables).invoke(main, ["run", "--once"])
    return result.output, result.exit_code, time.monotonic() - started


def stored(runtime: Runtime, source: str) -> int:
    with runtime.sessions() as session:
        query = select(func.count(Notice.id)).join(Notice.source).where(SourceState.name == source)
        return int(session.scalar(query) or 0)


SLOW = {
    # One byte every 2 s: never 5 s of silence, so the socket timeout alone never fires.
    "slow-body": lambda reply: Reply(reply.status, reply.body, reply.headers, drip=2.0),
    "slow-headers": lambda reply: Reply(
        reply.status, reply.body, reply.headers, drip=2.0, drip_headers=True
    ),
}


@pytest.mark.parametrize("kind", sorted(SLOW))
def test_a_dripping_portal_fails_by_the_request_deadline_and_the_next_source_runs(
    kind: str, make_runtime: Callable[..., Runtime]
) -> None:
    with (
        LoopbackServer(SlowPortal(SLOW[kind])) as slow,
        LoopbackServer(BoampPortal()) as fast,
    ):
        runtime = make_runtime(two_sources(slow.url, fast.url))
        output, code, seconds = run_once(runtime, WATCHER_HTTP_DEADLINE="5")
    assert seconds < 20, f"the run took {seconds:.0f} s"  # 5 s, not retried
    assert code == 1, output
    assert "Traceback" not in output
    [line] = [x for x in output.splitlines() if x.startswith("slow: FAILED")]
    assert "no complete answer within 5 s (WATCHER_HTTP_DEADLINE)" in line, line
    assert "boamp: 3 notices fetched" in output, output
    assert stored(runtime, "boamp") == 3
    assert stored(runtime, "slow") == 0
    # A deadline is not retried: the portal would be as slow (the first run's check of the
    # portal's home page, `/`, is not a poll).
    assert len([r for r in slow.requests if r.path != "/"]) == 1


def test_a_poll_of_many_slow_pages_stops_by_the_poll_deadline(
    make_runtime: Callable[..., Runtime],
) -> None:
    # Every answer comes in 0.6 s, well within the request deadline, but the pages never end.
    endless = BoampPortal()
    endless.records = endless.records * 200

    def late(reply: Reply) -> Reply:
        return Reply(reply.status, reply.body, reply.headers, delay=0.6)

    portal = SlowPortal(late)
    portal.records = endless.records
    with LoopbackServer(portal) as slow, LoopbackServer(BoampPortal()) as fast:
        runtime = make_runtime(two_sources(slow.url, fast.url))
        output, code, seconds = run_once(runtime, WATCHER_POLL_DEADLINE="2")
    assert seconds < 15, f"the run took {seconds:.0f} s"
    assert code == 1 and "Traceback" not in output, output
    [line] = [x for x in output.splitlines() if x.startswith("slow: FAILED")]
    assert "poll stopped after 2 s (WATCHER_POLL_DEADLINE)" in line, line
    assert "boamp: 3 notices fetched" in output
    assert stored(runtime, "slow") == 0  # nothing half-stored
    assert 2 <= len(slow.requests) <= 6
