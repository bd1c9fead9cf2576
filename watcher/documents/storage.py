"""The database side of documents: which notices are due, what to fetch, and what changed.

`documents.py` does the I/O (HTTP, files); this module plans a notice's fetches inside one short
transaction, then records their outcomes inside another: statuses, append-only versions, removals,
and at most one `documents_changed` event per notice per sync (never for the baseline).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from watcher.db.models import Document, DocumentVersion, Event, Notice, SourceState
from watcher.db.search import index_document
from watcher.documents.text import Extracted, filename_for

EVENT_TYPE = "documents_changed"
# Statuses fetched at every sync; `not_downloadable` (a web page, not a file) is checked once.
RETRIED = frozenset({"pending", "ok", "failed", "too_large"})


@dataclass
class DocumentsReport:
    """What one documents sync did, for the CLI and logs."""

    notices: int = 0
    fetched: int = 0
    new_versions: int = 0
    unchanged: int = 0
    not_downloadable: int = 0
    failed: int = 0
    events: int = 0
    left: int = (
        0  # notices not visited: the sync ran out of time (`WATCHER_DOCUMENTS_SYNC_SECONDS`)
    )
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for a person."""
        line = (
            f"documents: {self.notices} notices, {self.fetched} fetched, {self.new_versions} new "
            f"versions, {self.unchanged} unchanged, {self.not_downloadable} not downloadable, "
            f"{self.failed} failed, {self.events} events"
        )
        if self.left:
            line += f"; out of time, {self.left} notices left for the next sync"
        return line


@dataclass
class DocState:
    """A document as planned for this sync, detached from any session."""

    id: int
    url: str
    filename: str
    status: str
    etag: str | None
    last_modified: str | None
    sha256: str | None
    version: int
    announce_added: bool


@dataclass
class Outcome:
    """What fetching one document gave: a status, and the file when its sha256 is new."""

    doc: DocState
    status: str
    error: str | None = None
    content: bytes | None = None  # set only when the sha256 changed
    sha256: str | None = None
    content_type: str = ""
    filename: str = ""
    extracted: Extracted | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Plan:
    """One notice's work for this sync: the documents to fetch and those it no longer links."""

    notice_id: int
    source: str
    native_id: str
    baseline: bool  # some document of the notice already has a version
    fetch: list[DocState]
    removed: list[DocState]


def document_links(notice: Notice) -> list[str]:
    """The notice's http(s) document links, in order, without duplicates."""
    documents = (notice.snapshot or {}).get("documents") or []
    urls = [u.strip() for u in documents if isinstance(u, str)]
    return list(dict.fromkeys(u for u in urls if u.startswith(("http://", "https://"))))


def due_notices(session: Session, limit: int) -> list[int]:
    """Relevant notices with documents to fetch or to mark removed, least recently checked first."""
    docs: dict[int, list[Document]] = {}
    for doc in session.scalars(select(Document).where(Document.removed_at.is_(None))):
        docs.setdefault(doc.notice_id, []).append(doc)
    ranked: list[tuple[int, dt.datetime, int]] = []
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    for notice in session.scalars(select(Notice).where(Notice.relevant.is_(True))):
        links = set(document_links(notice))
        known = docs.get(notice.id, [])
        active = [d for d in known if d.url in links and d.status in RETRIED]
        gone = [d for d in known if d.url not in links]
        new = links - {d.url for d in known}
        if not (active or gone or new):
            continue
        checked = [d.last_checked_at for d in active if d.last_checked_at]
        never = 0 if new or len(checked) < len(active) else 1
        ranked.append((never, min(checked, default=floor), notice.id))
    return [notice_id for *_, notice_id in sorted(ranked)[:limit]]


def plan_notice(session: Session, notice_id: int, now: dt.datetime) -> Plan:
    """Create rows for newly linked documents and say what to fetch and what was removed."""
    notice = session.get_one(Notice, notice_id)
    source = session.get_one(SourceState, notice.source_id).name
    links = document_links(notice)
    rows = {
        d.url: d for d in session.scalars(select(Document).where(Document.notice_id == notice_id))
    }
    latest = latest_versions(session, [d.id for d in rows.values()])
    baseline = any(d.id in latest for d in rows.values())
    for url in links:
        row = rows.get(url)
        if row is None:
            row = Document(
                notice_id=notice_id,
                url=url,
                filename=filename_for(url),
                status="pending",
                failures=0,
                announce_added=baseline,
                first_seen_at=now,
            )
            session.add(row)
            rows[url] = row
        elif row.removed_at is not None:  # linked again: announce it again once fetched
            row.removed_at = None
            row.announce_added = True
    session.flush()

    def detached(row: Document) -> DocState:
        version, sha256 = latest.get(row.id, (0, None))
        return DocState(
            id=row.id,
            url=row.url,
            filename=row.filename,
            status=row.status,
            etag=row.etag,
            last_modified=row.last_modified,
            sha256=sha256,
            version=version,
            announce_added=row.announce_added,
        )

    wanted = set(links)
    return Plan(
        notice_id=notice_id,
        source=source,
        native_id=notice.native_id,
        baseline=baseline,
        fetch=[detached(rows[u]) for u in links if rows[u].status in RETRIED],
        removed=[detached(r) for r in rows.values() if r.url not in wanted and not r.removed_at],
    )


def latest_versions(session: Session, ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """Document id → (latest version number, its sha256), for documents that have a version."""
    latest: dict[int, tuple[int, str]] = {}
    ids = list(ids)
    if not ids:
        return latest
    query = (
        select(DocumentVersion.document_id, DocumentVersion.version, DocumentVersion.sha256)
        .where(DocumentVersion.document_id.in_(ids))
        .order_by(DocumentVersion.version)
    )
    for document_id, version, sha256 in session.execute(query):
        latest[document_id] = (version, sha256)
    return latest


def _label(filename: str, version: int) -> str:
    return f"{filename} (v{version})"


def record_outcomes(
    session: Session,
    plan: Plan,
    outcomes: list[Outcome],
    now: dt.datetime,
    report: DocumentsReport,
) -> None:
    """Write one notice's outcomes: statuses, new versions, removals, and at most one event."""
    report.notices += 1
    changes: list[dict[str, str | None]] = []
    transitions: list[str] = []
    for outcome in outcomes:
        doc = outcome.doc
        row = session.get_one(Document, doc.id)
        row.last_checked_at = now
        row.status = outcome.status
        row.last_error = outcome.error
        row.failures = row.failures + 1 if outcome.status in ("failed", "too_large") else 0
        if outcome.status != "ok":
            if outcome.status == "not_downloadable":
                report.not_downloadable += 1
            else:
                report.failed += 1
                report.errors.append(f"{doc.url}: {outcome.error}")
            continue
        report.fetched += 1
        row.etag, row.last_modified = outcome.etag, outcome.last_modified
        version = doc.version
        if outcome.content is not None:
            version += 1
            report.new_versions += 1
            row.filename = outcome.filename or row.filename
            row.last_error = _add_version(session, doc.id, version, outcome, now)
        else:
            report.unchanged += 1
        added, row.announce_added = doc.announce_added, False
        if added and plan.baseline:
            changes.append(_change(None, _label(row.filename, version)))
        elif doc.version and version != doc.version:
            changes.append(
                _change(_label(doc.filename, doc.version), _label(row.filename, version))
            )
        else:
            continue
        transitions.append(f"{doc.url}|{doc.sha256 or ''}|{outcome.sha256}")
    for doc in plan.removed:
        row = session.get_one(Document, doc.id)
        row.removed_at = now
        index_document(session, doc.id, row.filename, None)  # no longer searched
        if doc.version:
            changes.append(_change(_label(row.filename, doc.version), None))
            transitions.append(f"{doc.url}|{doc.sha256}|")
    if changes and plan.baseline:
        _event(session, plan, changes, transitions, now, report)


def _add_version(
    session: Session, document_id: int, version: int, outcome: Outcome, now: dt.datetime
) -> str | None:
    """Append a version; return the text extraction problem, if any, for the document row."""
    extracted = outcome.extracted or Extracted(None)
    content = outcome.content or b""
    session.add(
        DocumentVersion(
            document_id=document_id,
            version=version,
            sha256=outcome.sha256 or hashlib.sha256(content).hexdigest(),
            size=len(content),
            content_type=outcome.content_type,
            filename=outcome.filename,
            fetched_at=now,
            text=extracted.text,
            members=list(extracted.members),
            extract_error=extracted.error,
        )
    )
    index_document(session, document_id, outcome.filename, extracted.text)
    return extracted.error


def _change(old: str | None, new: str | None) -> dict[str, str | None]:
    return {"field": "documents", "label": "Documents", "old": old, "new": new}


def _event(
    session: Session,
    plan: Plan,
    changes: list[dict[str, str | None]],
    transitions: list[str],
    now: dt.datetime,
    report: DocumentsReport,
) -> None:
    digest = hashlib.sha256("\n".join(sorted(transitions)).encode()).hexdigest()
    key = f"{plan.source}/{plan.native_id}/documents/{digest}"
    if session.scalar(select(Event.id).where(Event.key == key)) is not None:
        return  # this very change was announced before (a replayed sync)
    notice = session.get_one(Notice, plan.notice_id)
    changes.sort(key=lambda c: (c["new"] or c["old"] or "").lower())
    session.add(
        Event(
            key=key,
            notice_id=notice.id,
            type=EVENT_TYPE,
            created_at=now,
            version=notice.version,
            changes=changes,
            site=notice.site,
        )
    )
    report.events += 1
