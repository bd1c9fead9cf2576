"""`watcher backup --out FILE` and `watcher restore FILE`: see `watcher.db.backup`."""

from __future__ import annotations

from pathlib import Path

import click

from watcher.cli.common import friendly
from watcher.pipeline.runtime import Runtime


@click.command("backup")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="File to write."
)
@friendly
def backup_command(out: Path) -> None:
    """Copy the whole database into FILE, checked (SQLite online backup; PostgreSQL: pg_dump).

    Safe while `watcher serve` runs; the previous FILE is replaced only by a good copy.
    """
    from watcher.db.backup import backup  # noqa: PLC0415

    runtime = Runtime.from_env()
    click.echo(backup(runtime.settings.db_url, out).summary("backup written"))


@click.command("restore")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace a database that already holds notices.")
@friendly
def restore_command(file: Path, force: bool) -> None:
    """Put the backup FILE into the database (WATCHER_DATABASE_URL), then migrate it.

    Stop `watcher serve` and scheduled runs first.
    """
    from watcher.db.backup import restore  # noqa: PLC0415

    runtime = Runtime.from_env()
    click.echo(restore(runtime.settings.db_url, file, force=force).summary("restored"))
