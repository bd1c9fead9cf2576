"""The `watcher` command: the root group and where each command lives.

Every expected failure is one line on stderr and exit 1 (`watcher.cli.common.friendly`). A command's
module is imported only when that command runs, so `watcher --help` loads click and nothing else.
"""

from __future__ import annotations

import logging
import sys

import click

from watcher import __version__
from watcher.cli.common import LazyGroup

# name → ("module:attribute", the one-line help shown by `watcher --help`).
COMMANDS: dict[str, tuple[str, str]] = {
    "check-config": (
        "watcher.cli.setup:check_config",
        "Validate sources.yaml (or PATH) and the matcher rules; exit 1 listing every problem.",
    ),
    "sources": ("watcher.cli.setup:sources_cmd", "List the source kinds and their documentation."),
    "db": ("watcher.cli.setup:db", "Database maintenance."),
    "run": ("watcher.cli.run:run", "Poll the sources, store what changed and publish the feeds."),
    "feed": ("watcher.cli.run:feed", "Feeds."),
    "serve": (
        "watcher.cli.serve:serve",
        "Run the scheduler (each source on its schedule) and the web server (feeds, pages).",
    ),
    "match": (
        "watcher.cli.match:match_command",
        "Decide relevance and site for each notice and print one JSON line per notice.",
    ),
    "subscribers": (
        "watcher.cli.notify:subscribers",
        "Who receives alerts: e-mail addresses and Apprise channel URLs, with their filters.",
    ),
    "notify": (
        "watcher.cli.notify:notify",
        "Deliver the pending alerts now, ignoring the retry backoff; exit 0 even if mail is down.",
    ),
    "backfill": (
        "watcher.cli.backfill:backfill",
        "Fetch a portal's history month by month since DATE; run it again to resume.",
    ),
    "documents": (
        "watcher.cli.documents:documents",
        "Public documents of relevant notices (avis, règlement de consultation, DCE).",
    ),
    "search": (
        "watcher.cli.search:search_command",
        "Search the stored notices and their documents' text; best procedures first.",
    ),
    "rematch": (
        "watcher.cli.maintenance:rematch",
        "Re-run the relevance matcher on every stored notice (after the rules changed).",
    ),
    "export": (
        "watcher.cli.maintenance:export",
        "Write a procedure's whole history (versions, raw payloads, sha256, events) as JSON.",
    ),
    "audit": (
        "watcher.cli.audit:audit_command",
        "Count, per source, the stored notices with no deadline, no buyer, no CPV, no département, "
        "a malformed département or an out-of-range value (a parser drifting shows here).",
    ),
    "companies": (
        "watcher.cli.companies:companies",
        "Companies that won contracts: rebuild, list, check companies.yaml.",
    ),
    "backup": (
        "watcher.cli.backup:backup_command",
        "Copy the whole database into FILE, checked (SQLite online backup; PostgreSQL: pg_dump).",
    ),
    "restore": (
        "watcher.cli.backup:restore_command",
        "Put the backup FILE into the database (WATCHER_DATABASE_URL), then migrate it.",
    ),
    "init": (
        "watcher.cli.init:init",
        "Write a commented sources.yaml and .env.example, then check which portals answer.",
    ),
    "demo": (
        "watcher.cli.demo:demo",
        "Serve a bundled sample of notices through the real pipeline, with no network.",
    ),
}


# Commands that read none of the deployment's settings (`demo` makes its own, in a fresh folder).
OWN_SETTINGS = ("demo", "sources")


def _close_runtimes() -> None:
    runtime = sys.modules.get("watcher.pipeline.runtime")
    if runtime is not None:
        runtime.Runtime.close_all()


def _check_environment(command: str | None) -> None:
    """Every setting, read and checked before any command starts: one line for each wrong one."""
    from watcher.cli.environment import check_environment  # noqa: PLC0415
    from watcher.errors import ConfigError  # noqa: PLC0415

    try:
        check_environment(command)
    except ConfigError as exc:
        for line in exc.problems:
            click.echo(f"error: {line}", err=True)
        sys.exit(1)


@click.group(cls=LazyGroup, commands_at=COMMANDS)
@click.version_option(__version__, prog_name="watcher")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs.")
def main(verbose: bool) -> None:
    """Watch public-procurement portals for immigration detention contracts.

    Surveille les portails de marchés publics pour les contrats de la rétention administrative.
    """
    ctx = click.get_current_context()
    ctx.call_on_close(_close_runtimes)
    if ctx.invoked_subcommand not in (None, *OWN_SETTINGS) and not ctx.meta.get("watcher.help"):
        _check_environment(ctx.invoked_subcommand)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    from watcher.cli.logs import apply_format  # noqa: PLC0415

    apply_format()  # WATCHER_LOG_FORMAT=json: one JSON object per line
