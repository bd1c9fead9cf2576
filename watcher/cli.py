"""The `watcher` command line. Every expected failure is one line on stderr and exit 1."""

from __future__ import annotations

import errno
import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import OperationalError

from watcher import __version__
from watcher.errors import ConfigError, WatcherError
from watcher.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn a `WatcherError` into `error: …` lines and exit 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for line in exc.problems:
                click.echo(f"error: {line}", err=True)
            sys.exit(1)
        except WatcherError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except OperationalError as exc:  # the database is unreachable, locked or on a full disk
            click.echo(f"error: database: {' '.join(str(exc.orig).split())}", err=True)
            sys.exit(1)
        except OSError as exc:  # a full disk, a folder without permission (issue 18)
            from watcher.cycle import os_error_text  # noqa: PLC0415

            click.echo(f"error: {os_error_text(exc)}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(__version__, prog_name="watcher")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs.")
def main(verbose: bool) -> None:
    """Watch public-procurement portals for immigration detention contracts.

    Surveille les portails de marchés publics pour les contrats de la rétention administrative.
    """
    click.get_current_context().call_on_close(Runtime.close_all)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    from watcher.logs import apply_format  # noqa: PLC0415

    apply_format()  # WATCHER_LOG_FORMAT=json: one JSON object per line


@main.command("check-config")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@friendly
def check_config(path: Path | None) -> None:
    """Validate sources.yaml (or PATH) and the matcher rules; exit 1 listing every problem."""
    from watcher.config import load_config  # noqa: PLC0415
    from watcher.match import Matcher  # noqa: PLC0415

    runtime = Runtime.from_env()
    config = load_config(path or runtime.settings.sources)
    Matcher.load(config.rules, config.sites)
    enabled = sum(1 for s in config.sources if s.enabled)
    click.echo(f"{config.path}: OK, {len(config.sources)} sources ({enabled} enabled)")


@main.group("db")
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Create the database or bring it to the latest schema."""
    from watcher.db.session import make_engine, upgrade  # noqa: PLC0415

    runtime = Runtime.from_env()
    engine = make_engine(runtime.settings.db_url)
    changed = upgrade(engine)
    where = engine.url.render_as_string(hide_password=True)
    click.echo(f"database {where}: {'upgraded' if changed else 'already up to date'}")


@main.command("run")
@click.option("--once", is_flag=True, help="Poll every due source once, publish, and exit.")
@click.option("--source", "source_name", help="Only this source (by name).")
@click.option("--force", is_flag=True, help="Poll even a source that rests after failures.")
@friendly
def run(once: bool, source_name: str | None, force: bool) -> None:
    """Poll the sources, store what changed and publish the feeds.

    With --once: poll each enabled source (or --source NAME) now and exit 0 when all succeeded,
    1 when any failed. Without it: run the scheduler until stopped (no web server; see `serve`).
    """
    from watcher.cycle import after_polls  # noqa: PLC0415
    from watcher.pipeline import run_source  # noqa: PLC0415

    runtime = Runtime.from_env()
    sources = runtime.config.build(only=source_name)
    if not once:
        from watcher.scheduler import run_forever  # noqa: PLC0415

        run_forever(runtime, sources)
        return
    from watcher.summary import round_summary  # noqa: PLC0415

    ctx = runtime.context()
    results = []
    # Progress only for a person watching a terminal, never in logs or pipes.
    progress = sys.stderr.isatty()
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


@main.group("feed")
def feed() -> None:
    """Feeds."""


@feed.command("build")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write.")
@friendly
def feed_build(out: Path) -> None:
    """Write every feed (all, per site, source and event type; Atom, JSON Feed, iCalendar) into
    the folder OUT."""
    from watcher.cycle import feeds_error  # noqa: PLC0415
    from watcher.publish.feeds import write_feeds  # noqa: PLC0415

    runtime = Runtime.from_env()
    try:
        with runtime.sessions() as session:
            written = write_feeds(session, runtime.settings, out, sites=runtime.matcher.site_slugs)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise  # a full disk: `error: No space left on device: <file>`, whatever the folder
        raise WatcherError(
            feeds_error(out, exc, fix="or give --out a folder you can write")
        ) from None
    click.echo(
        f"{len(written)} file(s) written or updated in {out} (all.atom, sites/, sources/, …)"
    )


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on (1-65535).",
)
@click.option("--no-scheduler", is_flag=True, help="Serve only; do not poll.")
@friendly
def serve(host: str, port: int, no_scheduler: bool) -> None:
    """Run the scheduler (each source on its schedule) and the web server (feeds, pages)."""
    from watcher.web.server import serve as run_server  # noqa: PLC0415

    runtime = Runtime.from_env()
    run_server(runtime, host=host, port=port, scheduler=not no_scheduler)


@main.command("sources")
@friendly
def sources_cmd() -> None:
    """List the source kinds and their documentation."""
    from watcher.sources import SOURCES  # noqa: PLC0415

    for kind, cls in sorted(SOURCES.items()):
        doc = sys.modules[cls.__module__].__doc__ or ""
        click.echo(f"== {kind}\n{doc.strip()}\n")


def _register() -> None:
    from watcher.cli_match import match_command  # noqa: PLC0415

    main.add_command(match_command)


_register()


def _register_notify() -> None:
    from watcher.cli_notify import notify, subscribers  # noqa: PLC0415

    main.add_command(subscribers)
    main.add_command(notify)


_register_notify()


def _register_service() -> None:
    from watcher.cli_backfill import backfill  # noqa: PLC0415

    main.add_command(backfill)


_register_service()


def _register_documents() -> None:
    from watcher.cli_documents import documents  # noqa: PLC0415

    main.add_command(documents)


_register_documents()


def _register_maintenance() -> None:
    from watcher.cli_maintenance import export, rematch  # noqa: PLC0415

    main.add_command(rematch)
    main.add_command(export)


_register_maintenance()


def _register_audit() -> None:
    from watcher.cli_audit import audit_command  # noqa: PLC0415

    main.add_command(audit_command)


_register_audit()


def _register_companies() -> None:
    from watcher.cli_companies import companies  # noqa: PLC0415

    main.add_command(companies)


_register_companies()


def _register_backup() -> None:
    from watcher.cli_backup import backup_command, restore_command  # noqa: PLC0415

    main.add_command(backup_command)
    main.add_command(restore_command)


_register_backup()


def _register_first_run() -> None:
    from watcher.cli_demo import demo  # noqa: PLC0415
    from watcher.cli_init import init  # noqa: PLC0415

    main.add_command(init)
    main.add_command(demo)


_register_first_run()
