"""`watcher companies …`: rebuild the companies from the stored award notices, list them, check
`companies.yaml`.

The rebuild also runs by itself after each round of polls that brought something new; run it by hand
after editing `companies.yaml` (next to `sources.yaml`) to see the result at once.
"""

from __future__ import annotations

import click

from watcher.cli.common import friendly
from watcher.pipeline.runtime import Runtime


@click.group("companies")
def companies() -> None:
    """Companies that won contracts: rebuild, list, check companies.yaml."""


@companies.command("refresh")
@friendly
def refresh_cmd() -> None:
    """Rebuild the companies from the award notices (after editing companies.yaml)."""
    from watcher.companies.store import (  # noqa: PLC0415
        Skipped,
        overrides_path,
        read_overrides,
        refresh_companies,
    )
    from watcher.db.session import session_scope  # noqa: PLC0415
    from watcher.pipeline.poll import utcnow  # noqa: PLC0415

    runtime = Runtime.from_env()
    overrides = read_overrides(overrides_path(runtime.settings.sources))
    skipped = Skipped()
    with session_scope(runtime.sessions) as session:
        count = refresh_companies(session, overrides, utcnow(), skipped)
    click.echo(f"companies: {count}" + skipped.line())


@companies.command("list")
@friendly
def list_cmd() -> None:
    """Print the companies with contracts at detention sites: slug, contracts, totals, name."""
    from watcher.web.company_listing import company_rows  # noqa: PLC0415

    runtime = Runtime.from_env()
    with runtime.sessions() as session:
        rows = company_rows(session)
    for row in rows:
        totals = "; ".join(row.total_lines("en")) or "no amount"
        click.echo(f"{row.slug}\t{row.contracts}\t{totals}\t{row.name}")
    if not rows:
        click.echo("no company yet (run `watcher companies refresh` after a poll)")


@companies.command("check")
@friendly
def check_cmd() -> None:
    """Check companies.yaml (next to sources.yaml); exit 1 with the mistake."""
    from watcher.companies.store import overrides_path, read_overrides  # noqa: PLC0415

    runtime = Runtime.from_env()
    path = overrides_path(runtime.settings.sources)
    overrides = read_overrides(path)
    click.echo(
        f"{path}: {len(overrides.companies)} companies, {len(overrides.distinct)} distinct groups"
    )
