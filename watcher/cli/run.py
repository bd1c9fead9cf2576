"""`watcher run` and `watcher feed build`: polling and publishing by hand or on a schedule."""

from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from watcher.cli.common import friendly
from watcher.errors import WatcherError

if TYPE_CHECKING:
    from watcher.pipeline.runtime import Runtime

# Seconds every portal is given to answer before a first run (at most WATCHER_HTTP_TIMEOUT).
FIRST_RUN_PROBE_SECONDS = 10.0


@click.command("run")
@click.option("--once", is_flag=True, help="Poll every due source once, publish, and exit.")
@click.option("--source", "source_name", help="Only this source (by name).")
@click.option("--force", is_flag=True, help="Poll even a source that rests after failures.")
@friendly
def run(once: bool, source_name: str | None, force: bool) -> None:
    """Poll the sources, store what changed and publish the feeds.

    With --once: poll each enabled source (or --source NAME) now and exit 0 when all succeeded,
    1 when any failed. Without it: run the scheduler until stopped (no web server; see `serve`).
    """
    from watcher.pipeline.cycle import after_polls  # noqa: PLC0415
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415

    runtime = Runtime.from_env()
    sources = runtime.config.build(only=source_name)
    if not once:
        from watcher.pipeline.scheduler import run_forever  # noqa: PLC0415

        run_forever(runtime, sources)
        return
    from watcher.pipeline.summary import round_summary  # noqa: PLC0415

    if sources and not force and _first_run(runtime):
        from watcher.cli.firstrun.probe import first_run_check  # noqa: PLC0415

        configs = [s.config for s in sources]
        seconds = min(FIRST_RUN_PROBE_SECONDS, runtime.settings.http_timeout)
        stop = first_run_check(configs, runtime.settings.user_agent, seconds)
        for line in stop:
            click.echo(line, err=True)
        if stop:
            sys.exit(1)
    if runtime.settings.log_format == "text" and not logging.getLogger().isEnabledFor(
        logging.DEBUG
    ):
        # The lines below say each poll's outcome once, in Paris time: the same news as log
        # lines (machine time, no zone) would say each failure twice (issue 25).
        for name in ("watcher.pipeline.poll", "watcher.companies.resolve"):
            logging.getLogger(name).setLevel(logging.WARNING)
    results = []
    # Progress only for a person watching a terminal, never in logs or pipes.
    progress = sys.stderr.isatty()
    if sources:  # the poll and the matcher only for something to poll (issue 29)
        from watcher.pipeline.poll import run_source  # noqa: PLC0415

        ctx = runtime.context()
    for number, source in enumerate(sources, start=1):
        if progress:
            click.echo(f"[{number}/{len(sources)}] {source.name}: polling…", err=True)
        results.append(run_source(source, ctx, breaker=not force))
    for result in results:
        click.echo(result.summary(), err=not result.ok)
    for line in round_summary(results):
        click.echo(line, err=not all(r.ok for r in results))
    problems = 0
    for line in after_polls(runtime, results):
        problems += line.startswith("error: ")
        click.echo(line, err=line.startswith("error: "))
    failed = [r.source for r in results if not r.ok or (r.skipped and "resting" in r.skipped)]
    if failed:
        click.echo(f"error: {len(failed)} source(s) failed: {', '.join(failed)}", err=True)
    if failed or problems:
        sys.exit(1)


def _first_run(runtime: Runtime) -> bool:
    """Whether no source was ever polled with success (a first run, maybe without network)."""
    from sqlalchemy import select  # noqa: PLC0415

    from watcher.db.models import SourceState  # noqa: PLC0415

    with runtime.sessions() as session:
        done = session.scalar(
            select(SourceState.id).where(SourceState.last_success_at.is_not(None))
        )
    return done is None


@click.group("feed")
def feed() -> None:
    """Feeds."""


@feed.command("build")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write.")
@friendly
def feed_build(out: Path) -> None:
    """Write every feed (all, per site, source and event type; Atom, JSON Feed, iCalendar) into
    the folder OUT."""
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415
    from watcher.publish.feeds import write_feeds  # noqa: PLC0415

    runtime = Runtime.from_env()
    try:
        with runtime.sessions() as session:
            written = write_feeds(session, runtime.settings, out, sites=runtime.site_slugs)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise  # a full disk: `error: No space left on device: <file>`, whatever the folder
        from watcher.pipeline.cycle import feeds_error  # noqa: PLC0415

        raise WatcherError(
            feeds_error(out, exc, fix="or give --out a folder you can write")
        ) from None
    click.echo(
        f"{len(written)} file(s) written or updated in {out} "
        "(all.atom, sites/, sources/, companies/, …)"
    )
