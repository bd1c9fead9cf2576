"""`watcher rematch` and `watcher export`: work on what is already stored."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from watcher.cli.common import Progress, friendly
from watcher.db.session import session_scope
from watcher.pipeline.maintenance import export_procedure
from watcher.pipeline.maintenance import rematch as rematch_all
from watcher.pipeline.poll import utcnow
from watcher.pipeline.runtime import Runtime

if TYPE_CHECKING:
    from watcher.pipeline.ocds import Written


@click.command("rematch")
@friendly
def rematch() -> None:
    """Re-run the relevance matcher on every stored notice (after the rules changed).

    Notices that became relevant are announced as new; the others keep their history.
    """
    runtime = Runtime.from_env()
    matcher = runtime.matcher
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("watcher.db.search").setLevel(logging.WARNING)  # the lines below say it
    progress = Progress("rematch", "notices")
    units = {"procedures": "procedures compiled", "search": "notices indexed for search"}
    with session_scope(runtime.sessions) as session:
        report = rematch_all(
            session,
            matcher,
            utcnow(),
            progress=lambda stage, done, total: progress(done, total, units.get(stage, stage)),
        )
        progress.close(report.indexed, report.indexed)
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
    """The record package, written record by record as it is made (issue 29: the memory of one
    batch of procedures, whatever their number), with its progress on stderr when it is long."""
    from watcher.pipeline.ocds import procedure_of, root_ids, write_package  # noqa: PLC0415

    settings = runtime.settings
    progress = Progress("export", "procedures")
    with runtime.sessions() as session:
        procedures = [procedure_of(session, ident).id] if ident else root_ids(session)

        def write(to: Callable[[str], object]) -> Written:
            return write_package(
                session,
                procedures,
                utcnow(),
                to,
                prefix=settings.ocid_prefix,
                uri=f"{settings.base_url}/",
                progress=progress,
            )

        if out is None:
            written = write(lambda text: click.echo(text, nl=False))
            progress.close(written.records, len(procedures))
            click.echo("")
            return
        written = _write_file(out, write)
    progress.close(written.records, len(procedures))
    click.echo(f"{out}: {written.records} procedures, {written.releases} releases (OCDS 1.1)")


def _write_file(out: Path, write: Callable[[Callable[[str], object]], Written]) -> Written:
    """`write` into the file `out`, whole or not at all: a regular file is written beside it,
    then put in its place (an export that fails half-way leaves the previous one)."""
    if out.is_symlink() or (out.exists() and not out.is_file()):  # /dev/stdout, a pipe...
        with out.open("w", encoding="utf-8") as file:
            written = write(file.write)
            file.write("\n")
        return written
    part = out.with_name(f".{out.name}.part")
    try:
        with part.open("w", encoding="utf-8") as file:
            written = write(file.write)
            file.write("\n")
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    return written
