"""`watcher backfill --since DATE`: a portal's history month by month, with progress, resuming
where it stopped, without touching the source's regular poll state."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer, Reply, Request
from tests.test_pipeline import BoampPortal, sources_yaml
from watcher.cli import main
from watcher.cli.backfill import month_windows
from watcher.db.models import BackfillProgress, Event, Notice, SourceState
from watcher.pipeline.runtime import Runtime

UTC = dt.UTC


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(at(2026, 1, 1), at(2026, 1, 1), [], id="empty"),
        pytest.param(
            at(2026, 1, 15),
            at(2026, 1, 20),
            [(at(2026, 1, 15), at(2026, 1, 20))],
            id="inside-a-month",
        ),
        pytest.param(
            at(2025, 11, 10),
            at(2026, 1, 5, 12),
            [
                (at(2025, 11, 10), at(2025, 12, 1)),
                (at(2025, 12, 1), at(2026, 1, 1)),
                (at(2026, 1, 1), at(2026, 1, 5, 12)),
            ],
            id="across-a-year",
        ),
        pytest.param(
            at(2026, 2, 1), at(2026, 3, 1), [(at(2026, 2, 1), at(2026, 3, 1))], id="exact-month"
        ),
    ],
)
def test_month_windows(
    start: dt.datetime, end: dt.datetime, expected: list[tuple[dt.datetime, dt.datetime]]
) -> None:
    assert month_windows(start, end) == expected


class FlakyPortal(BoampPortal):
    """BOAMP, answering 500 to requests whose window starts on `broken` (a day)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: str | None = None

    def __call__(self, request: Request) -> Reply:
        if self.broken and f"dateparution>=date'{self.broken}'" in (request.param("where") or ""):
            return Reply(500, b'{"error": "down"}')
        return super().__call__(request)


def window_starts(server: LoopbackServer) -> list[str]:
    found = [
        re.search(r"dateparution>=date'([0-9-]+)'", r.param("where") or "") for r in server.requests
    ]
    return [m.group(1) for m in found if m]


@pytest.fixture
def env(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Runtime, FlakyPortal, LoopbackServer]]:
    handler = FlakyPortal()
    with LoopbackServer(handler) as server:
        runtime = make_runtime(sources_yaml(server.url), http_retries=0)
        for key, value in runtime_env(runtime, WATCHER_HTTP_RETRIES="0").items():
            monkeypatch.setenv(key, value)
        yield runtime, handler, server


def months_ago(n: int) -> dt.date:
    today = dt.datetime.now(UTC).date().replace(day=1)
    for _ in range(n):
        today = (today - dt.timedelta(days=1)).replace(day=1)
    return today


def test_backfill_walks_month_by_month_and_resumes(
    env: tuple[Runtime, FlakyPortal, LoopbackServer],
) -> None:
    runtime, handler, server = env
    since = months_ago(3)
    second_month = months_ago(2)
    overlap = dt.timedelta(days=3)  # each window reaches back like a regular poll does
    handler.broken = (second_month - overlap).isoformat()

    first = CliRunner().invoke(main, ["backfill", "--since", since.isoformat(), "--no-progress"])
    assert first.exit_code == 1, first.output
    assert "Traceback" not in first.output
    # History is stored silently: no events, no alerts for years of old notices.
    assert f"boamp {since}..{second_month}: 3 notices, 2 relevant, 0 events" in first.output
    assert f"error: boamp: window {second_month}.." in first.output
    assert "run the same command again to resume" in first.output
    assert window_starts(server) == [(since - overlap).isoformat(), handler.broken]
    with runtime.sessions() as session:
        progress = session.scalars(select(BackfillProgress)).one()
        assert progress.since == since and progress.windows == 1 and progress.finished_at is None
        assert progress.done_until == dt.datetime.combine(second_month, dt.time(), UTC)
        state = session.scalars(select(SourceState)).one()
        # A backfill is no regular poll: the source still counts as never polled.
        assert state.last_success_at is None and state.last_polled_at is None
        assert state.consecutive_failures == 0
        assert len(session.scalars(select(Notice)).all()) == 3
        assert session.scalars(select(Event)).all() == []

    handler.broken = None
    server.requests.clear()
    second = CliRunner().invoke(main, ["backfill", "--since", since.isoformat(), "--no-progress"])
    assert second.exit_code == 0, second.output
    assert (
        "boamp: backfill since" in second.output
        and "complete: 3 months fetched now" in second.output
    )
    # Resumed with the month that failed, not restarted.
    assert window_starts(server)[0] == (second_month - overlap).isoformat()
    assert len(window_starts(server)) == 3
    with runtime.sessions() as session:
        progress = session.scalars(select(BackfillProgress)).one()
        assert progress.windows == 4 and progress.finished_at is not None
        recently = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
        assert progress.done_until is not None and progress.done_until > recently

    # Done: running it again only fetches the moments since.
    server.requests.clear()
    third = CliRunner().invoke(main, ["backfill", "--since", since.isoformat(), "--no-progress"])
    assert third.exit_code == 0 and len(window_starts(server)) <= 1


def test_backfill_shows_a_progress_bar(env: tuple[Runtime, FlakyPortal, LoopbackServer]) -> None:
    result = CliRunner().invoke(
        main, ["backfill", "--since", months_ago(1).isoformat(), "--source", "boamp", "--progress"]
    )
    assert result.exit_code == 0, result.output
    assert "100%" in result.stderr and "2/2" in result.stderr and "month" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--since", "2999-01-01"], "is in the future", id="future"),
        pytest.param(
            ["--since", "2026-01-01", "--source", "nope"],
            "no source named 'nope'",
            id="unknown-source",
        ),
        pytest.param(["--since", "yesterday"], "Invalid value for '--since'", id="bad-date"),
    ],
)
def test_backfill_refuses_bad_arguments(
    env: tuple[Runtime, FlakyPortal, LoopbackServer], args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["backfill", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_backfill_announce_makes_events(env: tuple[Runtime, FlakyPortal, LoopbackServer]) -> None:
    runtime, _handler, _server = env
    result = CliRunner().invoke(
        main, ["backfill", "--since", months_ago(1).isoformat(), "--no-progress", "--announce"]
    )
    assert result.exit_code == 0, result.output
    with runtime.sessions() as session:
        assert session.scalars(select(Event)).all()
