"""`watcher documents sync` and `watcher documents search TEXT`: the public documents of notices.

`sync` downloads the documents linked by relevant notices (politely, size-capped; see
`watcher.documents.sync`), keeps each version with its sha256 and text, and records a
`documents_changed` event when files are added, changed or removed after the first download.
`search` finds words in the text of the latest version of every document.
"""

from __future__ import annotations

import sys

import click

from watcher.errors import WatcherError


def _fail(exc: WatcherError) -> None:
    for line in getattr(exc, "problems", None) or [str(exc)]:
        click.echo(f"error: {line}", err=True)
    sys.exit(1)


@click.group("documents")
def documents() -> None:
    """Public documents of relevant notices (avis, règlement de consultation, DCE)."""


@documents.command("sync")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many notices.")
def sync(limit: int | None) -> None:
    """Download the documents of relevant notices, keep new versions, announce changes.

    Failures of single documents are listed as warnings and retried at the next sync; they do not
    change the exit status.
    """
    from watcher.documents.sync import sync_documents  # noqa: PLC0415
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415

    try:
        report = sync_documents(Runtime.from_env(), limit=limit)
    except WatcherError as exc:
        _fail(exc)
        return
    for error in report.errors:
        click.echo(f"warning: {error}", err=True)
    click.echo(report.summary())


@documents.command("search")
@click.argument("text")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
def search(text: str, limit: int) -> None:
    """Find TEXT (every word of it) in the documents' text; one hit per document."""
    from watcher.documents.sync import search_documents  # noqa: PLC0415
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415

    try:
        runtime = Runtime.from_env()
        with runtime.sessions() as session:
            hits = search_documents(session, text, limit=limit)
    except WatcherError as exc:
        _fail(exc)
        return
    for hit in hits:
        gone = " [removed]" if hit.removed else ""
        click.echo(f"{hit.source}/{hit.native_id}  {hit.filename} (v{hit.version}){gone}")
        click.echo(f"    {hit.notice_title}")
        click.echo(f"    {hit.snippet}")
        click.echo(f"    {hit.url}  sha256 {hit.sha256}")
    click.echo(f"{len(hits)} document(s) found", err=True)
