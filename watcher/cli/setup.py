"""`watcher check-config`, `watcher sources` and `watcher db upgrade`: setting up."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from watcher.cli.common import friendly


@click.command("check-config")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--full", is_flag=True, help="Validate even files found valid before (no cache).")
@friendly
def check_config(path: Path | None, full: bool) -> None:
    """Validate sources.yaml (or PATH) and the matcher rules; exit 1 listing every problem."""
    from watcher.cli import checkcache  # noqa: PLC0415

    line = None if full else checkcache.remembered(path)
    if line is not None:
        click.echo(line)
        return
    from watcher.match.matcher import Matcher  # noqa: PLC0415
    from watcher.pipeline.config import load_config  # noqa: PLC0415
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415

    runtime = Runtime.from_env()
    config = load_config(path or runtime.settings.sources)
    Matcher.load(config.rules, config.sites)
    enabled = sum(1 for s in config.sources if s.enabled)
    line = f"{config.path}: OK, {len(config.sources)} sources ({enabled} enabled)"
    checkcache.remember(path, [config.path, *config.rules, *config.sites], line)
    click.echo(line)


@click.command("sources")
@friendly
def sources_cmd() -> None:
    """List the source kinds and their documentation."""
    from watcher.sources import SOURCES  # noqa: PLC0415

    for kind, cls in sorted(SOURCES.items()):
        doc = sys.modules[cls.__module__].__doc__ or ""
        click.echo(f"== {kind}\n{doc.strip()}\n")


@click.group("db")
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Create the database or bring it to the latest schema."""
    from watcher.db.session import make_engine, upgrade  # noqa: PLC0415
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415

    runtime = Runtime.from_env()
    engine = make_engine(runtime.settings.db_url)
    started = time.perf_counter()
    changed = upgrade(engine)
    took = time.perf_counter() - started
    where = engine.url.render_as_string(hide_password=True)
    click.echo(
        f"database {where}: {f'upgraded in {took:.1f} s' if changed else 'already up to date'}"
    )
