"""Several instances over one database: a source is polled by one of them at a time, and together
they ask the portal no more than one instance would. Runs on SQLite (file locks) and, with
WATCHER_TEST_DATABASE_URL, on PostgreSQL (advisory locks)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine

from tests.loopback import LoopbackServer, Reply, Request
from tests.test_pipeline import BoampPortal, sources_yaml
from watcher.db.locks import advisory_key, source_lock
from watcher.pipeline.poll import run_source
from watcher.pipeline.runtime import Runtime
from watcher.pipeline.scheduler import POLLS, fresh_for, jitter_for
from watcher.records import RunResult

HOUR = dt.timedelta(hours=1)


class SlowPortal(BoampPortal):
    """The BOAMP portal, taking its time to answer, so that two polls overlap."""

    delay = 0.5

    def __call__(self, request: Request) -> Reply:
        time.sleep(self.delay)
        return super().__call__(request)


def test_advisory_keys_are_stable_signed_64_bit_and_distinct() -> None:
    keys = {advisory_key("public", name) for name in ("boamp", "ted", "place", "boamp-nord")}
    assert len(keys) == 4
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert advisory_key("public", "boamp") == advisory_key("public", "boamp")
    assert advisory_key("public", "boamp") != advisory_key("other_schema", "boamp")


def test_lock_is_exclusive_per_source_and_released(make_runtime: Callable[..., Runtime]) -> None:
    engine = make_runtime("sources: []\n").engine
    with source_lock(engine, "boamp") as first:
        assert first
        with source_lock(engine, "boamp") as second, source_lock(engine, "ted") as other:
            assert not second
            assert other
    with source_lock(engine, "boamp") as again:
        assert again


def test_lock_of_an_in_memory_database() -> None:
    engine = create_engine("sqlite://")
    with source_lock(engine, "boamp") as first, source_lock(engine, "boamp") as second:
        assert first and not second
    with source_lock(engine, "boamp") as again:
        assert again
    engine.dispose()


def _concurrently(runtime: Runtime, *, instances: int) -> list[RunResult]:
    source = runtime.config.build()[0]
    results: list[RunResult] = []
    start = threading.Barrier(instances)

    def instance() -> None:
        # Each instance has its own engine, as separate processes would.
        own = Runtime(runtime.settings)
        start.wait()
        results.append(run_source(source, own.context(), fresh_for=HOUR))
        own.engine.dispose()

    threads = [threading.Thread(target=instance) for _ in range(instances)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_instances_make_no_more_portal_requests_than_one(
    make_runtime: Callable[..., Runtime],
) -> None:
    with LoopbackServer(SlowPortal()) as server:
        runtime = make_runtime(sources_yaml(server.url))
        runtime.engine  # noqa: B018 - migrated once, before the instances start
        results = _concurrently(runtime, instances=2)
        together = len(server.requests)
        assert sorted(r.skipped is None for r in results) == [False, True]
        [done] = [r for r in results if r.skipped is None]
        assert done.ok and done.fetched == 3, done
        assert "another poll of this source is running" in next(r.skipped or "" for r in results)

        # An instance whose turn comes after the other finished finds the source fresh.
        later = run_source(runtime.config.build()[0], runtime.context(), fresh_for=HOUR)
        assert later.skipped and "already" in later.skipped
        assert len(server.requests) == together

        # One instance alone, for comparison: a poll forced through (no freshness check).
        server.requests.clear()
        alone = run_source(runtime.config.build()[0], runtime.context())
        assert alone.ok and alone.skipped is None
        assert together == len(server.requests) > 0


def test_a_stale_source_is_polled_again(make_runtime: Callable[..., Runtime]) -> None:
    with LoopbackServer(BoampPortal()) as server:
        runtime = make_runtime(sources_yaml(server.url))
        source = runtime.config.build()[0]
        first = run_source(source, runtime.context(), fresh_for=HOUR)
        assert first.ok and first.skipped is None
        ctx = runtime.context()
        ctx.clock = lambda: dt.datetime.now(dt.UTC) + 2 * HOUR
        second = run_source(source, ctx, fresh_for=HOUR)
        assert second.ok and second.skipped is None
        assert second.summary().startswith("boamp: 3 notices fetched")


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        pytest.param("2h", 7200 - 60 - 30, id="interval"),
        pytest.param("1m", 30, id="short-interval-half"),
        pytest.param("30m", 1800 - 60 - 30, id="half-hour"),
        pytest.param("0 7 * * *", 86400 - 30, id="daily-cron"),
        pytest.param("0 7,19 * * *", 43200 - 30, id="twice-daily-cron"),
        pytest.param("*/15 * * * *", 900 - 30, id="quarter-cron"),
    ],
)
def test_fresh_for_is_just_under_the_shortest_gap(schedule: str, seconds: int) -> None:
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    assert fresh_for(schedule, now) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("seconds", [60, 300, 1800, 7200, 86400])
def test_one_instance_alone_is_never_skipped(seconds: int) -> None:
    # Two fires of one interval job are at least `interval - jitter` apart.
    shortest_gap = dt.timedelta(seconds=seconds - jitter_for(seconds))
    assert fresh_for(f"{seconds}s", dt.datetime.now(dt.UTC)) < shortest_gap


def test_running_polls_are_waited_for_then_given_up() -> None:
    release = threading.Event()

    def poll() -> None:
        with POLLS.running("slow"):
            release.wait(10)

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.1)
    assert POLLS.wait_idle(0.2) == ["slow"]
    release.set()
    assert POLLS.wait_idle(5) == []
    thread.join()
