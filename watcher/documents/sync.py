"""The public documents of relevant notices: download, keep every version, extract text, announce.

`sync_documents()` visits the relevant notices that link documents (the avis PDF, the règlement de
consultation, a DCE that needs no account), fetches each link through a polite `Fetcher` (one per
host, `WATCHER_DOCUMENTS_MIN_INTERVAL` seconds apart, answers capped at
`WATCHER_DOCUMENTS_MAX_BYTES`), and keeps a new `DocumentVersion` only when the file's sha256
changes. Reading a file's text has a CPU budget (`WATCHER_DOCUMENTS_EXTRACT_SECONDS`, see
`watcher.documents.budget`) and a sync a time budget (`WATCHER_DOCUMENTS_SYNC_SECONDS`): the notices
left over are the first ones of the next sync. The bytes are stored on disk by sha256 under `$WATCHER_DATA_DIR/documents/`, the text of
PDFs and of ZIPs of PDFs goes into the database, where `search_documents()` finds it.

Announcing: the first download of a notice's documents is the **baseline** and is never announced
("changed" would be a false alarm). After that, one `documents_changed` event per notice per sync
names the files that were added, changed or removed (`RC.pdf (v1) → RC.pdf (v2)`); its key hashes
the transitions, so a replayed sync never announces the same change twice.

A link that gives a web page (a login form, PLACE's `EntrepriseDemandeTelechargementDce` form) is
recorded as `not_downloadable`, without error, and not fetched again. A failure of one document
(network, HTTP error, too large) is recorded on it and retried at the next sync; it never stops the
other documents or notices. Downloading DCEs is heavy, so `watcher run --once` does it only when
`WATCHER_DOCUMENTS=1`; `watcher documents sync` does it on demand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watcher.db import limits
from watcher.db.models import Document, DocumentVersion, Notice, SourceState
from watcher.db.session import session_scope
from watcher.documents.budget import extract_within
from watcher.documents.settings import DocumentsSettings, load_documents_settings
from watcher.documents.storage import (
    EVENT_TYPE,
    DocState,
    DocumentsReport,
    Outcome,
    due_notices,
    plan_notice,
    record_outcomes,
)
from watcher.documents.text import filename_for, media_type, sniff
from watcher.errors import FetchError, RefusedURLError, TooLargeError
from watcher.sources import netguard
from watcher.sources.http import Fetcher, build_client

if TYPE_CHECKING:
    from watcher.pipeline.poll import Context
    from watcher.pipeline.runtime import Runtime

__all__ = [
    "EVENT_TYPE",
    "DocumentHit",
    "DocumentsReport",
    "DocumentsSettings",
    "blob_path",
    "load_documents_settings",
    "search_documents",
    "sync_documents",
]

log = logging.getLogger("watcher.documents.sync")


def blob_path(data_dir: Path, sha256: str) -> Path:
    """Where the bytes of a document version are kept: `documents/<2 hex>/<sha256>`."""
    return data_dir / "documents" / sha256[:2] / sha256


def _store_blob(data_dir: Path, sha256: str, content: bytes) -> None:
    path = blob_path(data_dir, sha256)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)


class _Fetchers:
    """One polite `Fetcher` per host, sharing one client."""

    def __init__(self, client: httpx.Client, ctx: Context, conf: DocumentsSettings) -> None:
        self.client, self.ctx, self.conf = client, ctx, conf
        self.by_host: dict[str, Fetcher] = {}

    def get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        host = urlsplit(url).netloc.lower()
        fetcher = self.by_host.get(host)
        if fetcher is None:
            fetcher = Fetcher(
                self.client,
                min_interval=self.conf.min_interval,
                retries=self.ctx.settings.http_retries,
                backoff=self.ctx.settings.http_backoff,
                max_bytes=self.conf.max_bytes,
                sleep=self.ctx.sleep,
                deadline=self.ctx.settings.http_deadline,
            )
            self.by_host[host] = fetcher
        return fetcher.get(url, headers=headers)


def sync_documents(
    target: Runtime | Context,
    *,
    now: dt.datetime | None = None,
    limit: int | None = None,
    settings: DocumentsSettings | None = None,
) -> DocumentsReport:
    """Fetch the documents of up to `limit` relevant notices (least recently checked first).

    The first download of a notice's documents is its baseline and makes no event; afterwards each
    notice gets at most one `documents_changed` event per sync naming the files added, changed or
    removed. Never raises for a portal, a file or one notice's failure: they go into the report
    and on the document row, and are retried at the next sync.
    """
    # A Runtime (commands) or a poll Context (the after-polls cycle): both give a Context.
    ctx = target.context() if hasattr(target, "context") else target
    conf = settings or load_documents_settings()
    now = now or ctx.clock()
    report = DocumentsReport()
    with session_scope(ctx.sessions) as session:
        due = due_notices(session, limit or conf.limit)
    started = time.monotonic()
    guard = netguard.for_documents(ctx.transport)
    with build_client(ctx.settings, ctx.transport, guard=guard) as client:
        fetchers = _Fetchers(client, ctx, conf)
        for position, notice_id in enumerate(due):
            if conf.sync_seconds and time.monotonic() - started >= conf.sync_seconds:
                report.left = len(due) - position  # the first ones of the next sync
                break
            try:
                with session_scope(ctx.sessions) as session:
                    plan = plan_notice(session, notice_id, now)
                outcomes = [_fetch(doc, fetchers, conf, started) for doc in plan.fetch]
                for outcome in outcomes:
                    if outcome.content is not None and outcome.sha256:
                        _store_blob(ctx.settings.data_dir, outcome.sha256, outcome.content)
                with session_scope(ctx.sessions) as session:
                    record_outcomes(session, plan, outcomes, now, report)
            except Exception as exc:  # one notice never stops the others
                report.errors.append(f"notice {notice_id}: {type(exc).__name__}: {exc}")
                log.warning("documents of notice %s failed", notice_id, exc_info=True)
    limits.record_refusals(ctx.sessions, guard, now)
    log.info(report.summary())
    return report


def _fetch(
    doc: DocState, fetchers: _Fetchers, conf: DocumentsSettings, started: float = 0.0
) -> Outcome:
    """Download one document; every failure becomes an outcome, never an exception. Its text is
    read within `extract_seconds`, and never past the sync's budget (sync `started` then)."""
    headers: dict[str, str] = {}
    if doc.sha256 and doc.etag:
        headers["If-None-Match"] = doc.etag
    if doc.sha256 and doc.last_modified:
        headers["If-Modified-Since"] = doc.last_modified
    try:
        response = fetchers.get(doc.url, headers)
    except TooLargeError:
        return Outcome(doc, "too_large", f"larger than the {conf.max_bytes} bytes cap")
    except RefusedURLError as exc:  # not fetched again: a hostile link stays refused
        return Outcome(doc, "refused", str(exc))
    except FetchError as exc:
        return Outcome(doc, "failed", str(exc))
    except Exception as exc:  # noqa: BLE001 - a malformed link is one document's failure
        return Outcome(doc, "failed", f"{type(exc).__name__}: {exc}")
    validators = {
        "etag": response.headers.get("ETag"),
        "last_modified": response.headers.get("Last-Modified"),
    }
    if response.status_code == 304:
        if doc.sha256:
            return Outcome(doc, "ok", sha256=doc.sha256, **validators)
        return Outcome(doc, "failed", "HTTP 304 for a document never downloaded")
    content = response.content
    if not content:
        return Outcome(doc, "failed", f"HTTP {response.status_code} with an empty body")
    kind = sniff(content, response.headers.get("Content-Type"))
    if kind == "html":
        return Outcome(doc, "not_downloadable")
    sha256 = hashlib.sha256(content).hexdigest()
    if sha256 == doc.sha256:
        return Outcome(doc, "ok", sha256=sha256, **validators)
    return Outcome(
        doc,
        "ok",
        content=content,
        sha256=sha256,
        content_type=media_type(kind, response.headers.get("Content-Type")),
        filename=filename_for(doc.url, response.headers.get("Content-Disposition")),
        extracted=extract_within(content, kind, conf.zip_limits(), _budget(conf, started)),
        **validators,
    )


def _budget(conf: DocumentsSettings, started: float) -> float:
    """CPU seconds for one file's text: its own budget, at most what is left of the sync's (and
    at least a second, so a file found just before the end is still read if it is easy)."""
    if not conf.extract_seconds or not conf.sync_seconds or not started:
        return conf.extract_seconds  # 0: no budget, read in this process
    left = max(conf.sync_seconds - (time.monotonic() - started), 1.0)
    return min(conf.extract_seconds, left)


@dataclass(frozen=True, slots=True)
class DocumentHit:
    """A document whose latest version's text holds every word searched for."""

    notice_id: int
    source: str
    native_id: str
    notice_title: str
    site: str | None
    document_id: int
    url: str
    filename: str
    version: int
    sha256: str
    fetched_at: dt.datetime
    removed: bool
    snippet: str


def search_documents(session: Session, query: str, *, limit: int = 50) -> list[DocumentHit]:
    """Documents whose latest text contains every word of `query`, newest first.

    Case-insensitive `ILIKE` on PostgreSQL and `LIKE` on SQLite (whose case folding is ASCII only:
    `RÉTENTION` finds `RÉTENTION` and `rétention` finds `rétention`, but not each other).
    """
    words = query.split()
    if not words:
        return []
    latest = (
        select(DocumentVersion.document_id, func.max(DocumentVersion.version).label("version"))
        .group_by(DocumentVersion.document_id)
        .subquery()
    )
    stmt = (
        select(DocumentVersion, Document, Notice, SourceState.name)
        .join(
            latest,
            (latest.c.document_id == DocumentVersion.document_id)
            & (latest.c.version == DocumentVersion.version),
        )
        .join(Document, Document.id == DocumentVersion.document_id)
        .join(Notice, Notice.id == Document.notice_id)
        .join(SourceState, SourceState.id == Notice.source_id)
        .where(*(DocumentVersion.text.ilike(f"%{_escape_like(w)}%", escape="\\") for w in words))
        .order_by(DocumentVersion.fetched_at.desc(), DocumentVersion.id.desc())
        .limit(limit)
    )
    return [
        DocumentHit(
            notice_id=notice.id,
            source=source,
            native_id=notice.native_id,
            notice_title=notice.title,
            site=notice.site,
            document_id=document.id,
            url=document.url,
            filename=version.filename,
            version=version.version,
            sha256=version.sha256,
            fetched_at=version.fetched_at,
            removed=document.removed_at is not None,
            snippet=snippet(version.text or "", words[0]),
        )
        for version, document, notice, source in session.execute(stmt)
    ]


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def snippet(text: str, word: str, width: int = 80) -> str:
    """The words around the first occurrence of `word` in `text`, on one line."""
    at = text.lower().find(word.lower())
    if at < 0:
        return " ".join(text[: 2 * width].split())
    start, end = max(at - width, 0), at + len(word) + width
    middle = " ".join(text[start:end].split())
    return ("…" if start else "") + middle + ("…" if end < len(text) else "")
