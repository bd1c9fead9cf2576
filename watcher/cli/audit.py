"""`watcher audit [--source NAME] [--fast]`: how complete each source's stored notices are (the
counting is `watcher.pipeline.audit`)."""

from __future__ import annotations

import click

from watcher.cli.common import friendly


@click.command("audit")
@click.option("--source", "name", help="One source's name (default: every source).")
@click.option(
    "--fast", is_flag=True, help="Read the notices only, not their evidence (no lost-CPV count)."
)
@friendly
def audit_command(name: str | None, fast: bool) -> None:
    """Count, per source, the stored notices with no deadline, no buyer, no CPV, no département,
    a malformed département or an out-of-range value (a parser drifting shows here)."""
    from watcher.pipeline.audit import audit_all  # noqa: PLC0415
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415

    runtime = Runtime.from_env()
    with runtime.sessions() as session:
        audits = audit_all(session, name, raw=not fast)
    if not audits:
        click.echo("no source polled yet")
    for found in audits:
        click.echo("\n".join(found.lines()))
