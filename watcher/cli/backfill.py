"""`watcher backfill --since DATE`: walk a portal's history month by month, with a progress bar.

Each month is one ordinary poll limited to that window (`run_source(since=…, until=…)`): the same
storage and matching as a scheduled poll, but the source's own poll state (last success, failure
count) is left alone, and nothing is announced unless `--announce` is given: years of history would
otherwise flood the feeds and every subscriber's mailbox. Backfilled notices are on the web site,
in the API and in exports; later changes to them are announced as usual. After each month the progress is committed to the database
(`backfill_progress`), so an interrupted backfill resumes with the first month it did not finish:
run the same command again.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass

import click
from sqlalchemy import select
from tqdm import tqdm

from watcher.db.models import BackfillProgress
from watcher.db.search import fill_deferred
from watcher.db.session import session_scope
from watcher.errors import ConfigError, WatcherError
from watcher.pipeline.poll import Context, run_source, source_state
from watcher.records import RunResult
from watcher.sources.base import Source

# Kinds that only list what is open today ("no date window" in their documentation): there is no
# history to walk, `watcher run --once` fetches all they have.
WINDOWLESS = frozenset({"decp", "feed", "html", "place"})
# While the scheduler holds a source, a window is retried this many times, this many seconds apart.
BUSY_TRIES = 30
BUSY_WAIT = 10.0


def month_windows(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """Calendar-month windows (UTC) from `start` to `end`; the first and last may be partial."""
    windows: list[tuple[dt.datetime, dt.datetime]] = []
    cursor = start
    while cursor < end:
        year, month = (
            (cursor.year + 1, 1) if cursor.month == 12 else (cursor.year, cursor.month + 1)
        )
        boundary = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        windows.append((cursor, min(boundary, end)))
        cursor = boundary
    return windows


@dataclass
class Outcome:
    """What one source's backfill did."""

    source: str
    windows: int = 0
    fetched: int = 0
    relevant: int = 0
    events: int = 0
    remaining: int = 0
    error: str | None = None


def backfill_source(
    source: Source,
    ctx: Context,
    since: dt.date,
    *,
    show_bar: bool | None = None,
    announce: bool = False,
) -> Outcome:
    """Walk `source` from `since` (or from where an earlier run stopped) to now.

    `show_bar`: a progress bar (True), a line per month (False), or a bar only on a terminal (None).
    """
    now = ctx.clock()
    with session_scope(ctx.sessions) as session:
        state = source_state(session, source)
        progress = session.scalar(
            select(BackfillProgress).where(
                BackfillProgress.source_id == state.id, BackfillProgress.since == since
            )
        )
        if progress is None:
            progress = BackfillProgress(
                source_id=state.id, since=since, windows=0, fetched=0, started_at=now
            )
            session.add(progress)
        progress.updated_at = now
        session.flush()
        progress_id = progress.id
        start = progress.done_until or dt.datetime.combine(since, dt.time(), dt.UTC)
    windows = month_windows(start, now)
    outcome = Outcome(source.name, remaining=len(windows))
    with tqdm(
        total=len(windows),
        desc=source.name,
        unit="month",
        file=sys.stderr,
        disable=None if show_bar is None else not show_bar,
    ) as progress_bar:
        for window in windows:
            result = _run_window(source, ctx, window, announce)
            if not result.ok or result.skipped:
                outcome.error = (
                    f"{source.name}: window {_span(window)}: {result.error or result.skipped}; "
                    "run the same command again to resume from this month"
                )
                return outcome
            _save(ctx, progress_id, window[1], result, finished=window is windows[-1])
            outcome.windows += 1
            outcome.remaining -= 1
            outcome.fetched += result.fetched
            outcome.relevant += result.relevant
            outcome.events += result.events
            progress_bar.set_postfix_str(f"{_span(window)} {result.fetched} notices", refresh=False)
            progress_bar.update(1)
            if progress_bar.disable:
                click.echo(
                    f"{source.name} {_span(window)}: {result.fetched} notices, "
                    f"{result.relevant} relevant, {result.events} events",
                    err=True,
                )
    return outcome


def _run_window(
    source: Source, ctx: Context, window: tuple[dt.datetime, dt.datetime], announce: bool
) -> RunResult:
    for _ in range(BUSY_TRIES):
        result = run_source(source, ctx, since=window[0], until=window[1], announce=announce)
        if not result.skipped:
            with session_scope(ctx.sessions) as session:  # the window's words, searchable
                fill_deferred(session)
            return result
        ctx.sleep(BUSY_WAIT)
    return result


def _save(
    ctx: Context, progress_id: int, until: dt.datetime, result: RunResult, *, finished: bool
) -> None:
    with session_scope(ctx.sessions) as session:
        progress = session.get_one(BackfillProgress, progress_id)
        progress.done_until = until
        progress.windows += 1
        progress.fetched += result.fetched
        progress.updated_at = ctx.clock()
        if finished:
            progress.finished_at = progress.updated_at


def _span(window: tuple[dt.datetime, dt.datetime]) -> str:
    return f"{window[0]:%Y-%m-%d}..{window[1]:%Y-%m-%d}"


@click.command("backfill")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="First day to fetch (YYYY-MM-DD).",
)
@click.option("--source", "source_name", help="Only this source (by name).")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal; otherwise a line per month).",
)
@click.option(
    "--announce",
    is_flag=True,
    help="Announce the relevant notices found (feeds, alerts); default: store them silently.",
)
def backfill(
    since: dt.datetime, source_name: str | None, progress: bool | None, announce: bool
) -> None:
    """Fetch a portal's history month by month since DATE; run it again to resume.

    Kinds without history (lists of what is open today) are left out.
    """
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415

    try:
        runtime = Runtime.from_env()
        sources = runtime.config.build(only=source_name)
        if since.date() > dt.date.today():
            raise ConfigError(f"--since {since:%Y-%m-%d} is in the future")
        ctx = runtime.context()
        failed = False
        for source in sources:
            if source.kind in WINDOWLESS:
                click.echo(f"{source.name}: skipped (kind {source.kind!r} has no history)")
                continue
            outcome = backfill_source(
                source, ctx, since.date(), show_bar=progress, announce=announce
            )
            if outcome.error:
                click.echo(f"error: {outcome.error}", err=True)
                failed = True
                continue
            click.echo(
                f"{source.name}: backfill since {since:%Y-%m-%d} complete: {outcome.windows} "
                f"months fetched now, {outcome.fetched} notices, {outcome.relevant} relevant, "
                f"{outcome.events} events"
            )
    except WatcherError as exc:
        for line in getattr(exc, "problems", None) or [str(exc)]:
            click.echo(f"error: {line}", err=True)
        sys.exit(1)
    if failed:
        sys.exit(1)
