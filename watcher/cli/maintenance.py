"""`watcher rematch` and `watcher export`: work on what is already stored."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlalchemy import func, select

from watcher.cli.common import friendly
from watcher.db.models import Notice
from watcher.db.session import session_scope
from watcher.pipeline.maintenance import export_procedure
from watcher.pipeline.maintenance import rematch as rematch_all
from watcher.pipeline.poll import utcnow
from watcher.pipeline.runtime import Runtime


@click.command("rematch")
@friendly
def rematch() -> None:
    """Re-run the relevance matcher on every stored notice (after the rules changed).

    Notices that became relevant are announced as new; the others keep their history.
    """
    runtime = Runtime.from_env()
    matcher = runtime.matcher
    with session_scope(runtime.sessions) as session:
        total = session.scalar(select(func.count(Notice.id))) or 0
        with click.progressbar(length=total, label="rematch", file=sys.stderr) as bar:
            report = rematch_all(session, matcher, utcnow(), progress=bar.update)
    click.echo(
        f"{report.checked} notices checked: {report.became_relevant} became relevant, "
        f"{report.became_irrelevant} no longer relevant, {report.site_changed} changed site, "
        f"{report.events} new events; search index rebuilt ({report.indexed} entries)"
    )


@click.command("export")
@click.option("--notice", "ident", help="Notice number, or source:id (boamp:26-118204).")
@click.option(
    "--ocds",
    is_flag=True,
    help="Write OCDS instead: a record package of every relevant procedure (or of --notice's).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="File to write (default: standard output)."
)
@friendly
def export(ident: str | None, ocds: bool, out: Path | None) -> None:
    """Write a procedure's whole history (versions, raw payloads, sha256, events) as JSON.

    With --ocds, the procedures as an OCDS 1.1 record package: every relevant procedure, or the
    procedure of --notice; each record with its releases, compiled and versioned releases.
    """
    runtime = Runtime.from_env()
    if ocds:
        _export_ocds(runtime, ident, out)
        return
    if ident is None:
        raise click.UsageError("give --notice ID (or --ocds for every procedure as OCDS)")
    with runtime.sessions() as session:
        data = export_procedure(session, ident, utcnow())
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out is None:
        click.echo(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    count = sum(len(n["versions"]) for n in data["notices"])
    click.echo(
        f"{out}: {len(data['notices'])} notices, {count} versions, {len(data['events'])} events"
    )


def _export_ocds(runtime: Runtime, ident: str | None, out: Path | None) -> None:
    from watcher.pipeline.ocds import package, procedure_of, roots  # noqa: PLC0415

    settings = runtime.settings
    with runtime.sessions() as session:
        procedures = [procedure_of(session, ident)] if ident else roots(session)
        data = package(
            session,
            procedures,
            utcnow(),
            prefix=settings.ocid_prefix,
            uri=f"{settings.base_url}/",
        )
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out is None:
        click.echo(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    releases = sum(len(r["releases"]) for r in data["records"])
    click.echo(f"{out}: {len(data['records'])} procedures, {releases} releases (OCDS 1.1)")
