"""Storing one poll's notices: versions, relevance verdicts and events, in batches.

`PollStore` runs inside the poll's single transaction. Records whose raw payload hash is unchanged are
skipped before anything else is done; new and changed ones get an append-only `NoticeVersion`, their
verdict from the matcher, and an `Event` when a reader should hear about them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watcher.db.models import Event, Notice, NoticeVersion, SourceState
from watcher.diff import diff_snapshots, event_type
from watcher.match import Matcher, MatchInput, Verdict
from watcher.normalize import clean_text, content_hash, parse_datetime, snapshot
from watcher.records import FieldChange, NoticeRecord, RawPage, RunResult
from watcher.timeline import linked_event, similarity

# Below this, two notices of different portals are not linked (never merged silently).
SIMILARITY_THRESHOLD = 0.85


def match_input(snap: dict[str, Any]) -> MatchInput:
    """What the matcher reads of a notice snapshot: its texts, lots included, CPV codes and place.

    Built from the stored snapshot, so that `watcher rematch` sees exactly what a poll saw.
    """
    lots = snap.get("lots") or []
    texts = [snap.get("description") or ""]
    texts += [" ".join(filter(None, (lot.get("title"), lot.get("description")))) for lot in lots]
    cpv = dict.fromkeys([*snap.get("cpv", []), *(c for lot in lots for c in lot.get("cpv") or [])])
    return MatchInput(
        title=snap.get("title") or "",
        buyer=snap.get("buyer"),
        description=clean_text(" ".join(t for t in texts if t)),
        cpv=tuple(cpv),
        place=snap.get("place"),
        department=snap.get("department"),
        lang=snap.get("language"),
        notice_type=snap.get("notice_type"),
    )


def event_key(source: str, native_id: str, version: int, kind: str) -> str:
    """The stable identity of an event: the same poll replayed can never announce it twice."""
    return f"{source}/{native_id}/v{version}/{kind}"


def changes_json(changes: Sequence[Any]) -> list[dict[str, Any]]:
    """FieldChanges as JSON for the events table."""
    return [{"field": c.field, "label": c.label, "old": c.old, "new": c.new} for c in changes]


_EPOCH = dt.date(1970, 1, 1)


@dataclass
class PollStore:
    """Writes one poll's records for one source inside the caller's transaction."""

    session: Session
    source: SourceState
    matcher: Matcher
    now: dt.datetime
    result: RunResult
    _seen: dict[str, str] = field(default_factory=dict)

    def add_page(self, page: RawPage, records: Sequence[NoticeRecord]) -> None:
        """Store the records of one page, then flush and let go of them (memory stays flat)."""
        fresh: list[tuple[NoticeRecord, str]] = []
        # Oldest first, so that an original notice is stored before its corrigenda and awards.
        ordered = sorted(records, key=lambda r: (r.published or _EPOCH, r.native_id))
        for record in ordered:
            digest = content_hash(record.raw) if record.raw else content_hash(repr(record))
            if self._seen.get(record.native_id) == digest:
                continue  # the same record twice in one poll (overlapping windows or pages)
            self._seen[record.native_id] = digest
            fresh.append((record, digest))
        self.result.fetched += len(fresh)
        if not fresh:
            return
        ids = [r.native_id for r, _ in fresh]
        existing = {
            n.native_id: n
            for n in self.session.scalars(
                select(Notice).where(Notice.source_id == self.source.id, Notice.native_id.in_(ids))
            )
        }
        for record, digest in fresh:
            notice = existing.get(record.native_id)
            if notice is not None and notice.content_hash == digest:
                self.result.unchanged += 1
                if notice.relevant:
                    self.result.relevant += 1
                continue
            self._store(notice, record, digest, page)
        self.session.flush()
        self.session.expunge_all()
        self.session.add(self.source)

    def _store(
        self, notice: Notice | None, record: NoticeRecord, digest: str, page: RawPage
    ) -> None:
        snap = snapshot(record)
        verdict = self.matcher.match(match_input(snap))
        is_new = notice is None
        if notice is None:
            notice = Notice(
                source_id=self.source.id,
                native_id=record.native_id,
                version=1,
                announced=False,
                first_seen_at=self.now,
            )
            old_snap = None
            self.result.new += 1
        else:
            old_snap = notice.snapshot
            notice.version += 1
            self.result.changed += 1
        root = self._root(notice, record, snap)
        self._apply(notice, record, snap, digest, verdict, root)
        if notice.relevant:
            self.result.relevant += 1
        self.session.add(notice)
        self.session.add(
            NoticeVersion(
                notice=notice,
                version=notice.version,
                content_hash=digest,
                raw=record.raw,
                snapshot=snap,
                fetched_at=page.fetched_at or self.now,
                fetch_url=page.url,
            )
        )
        if not notice.relevant:
            return
        if root is not None and is_new:
            self._linked(root, notice, snap)
            notice.announced = True
            return
        if not notice.announced:
            self._event(notice, "new", [])
            notice.announced = True
            return
        changes = diff_snapshots(old_snap, snap)
        if changes:
            kind = event_type(False, changes, record.notice_type)
            self._event(root or notice, kind, changes, origin=notice if root else None)

    def _root(self, notice: Notice, record: NoticeRecord, snap: dict[str, Any]) -> Notice | None:
        """The first notice of the procedure `record` belongs to, if another one is known."""
        if notice.parent_id is not None:
            return self.session.get(Notice, notice.parent_id)
        if notice.id is not None and notice.announced:
            return None  # already a procedure of its own
        found: Notice | None = None
        method, confidence = "reference", 1.0
        if record.related_ids:
            found = self.session.scalars(
                select(Notice)
                .where(Notice.source_id == self.source.id)
                .where(Notice.native_id.in_(record.related_ids))
                .order_by(Notice.first_seen_at, Notice.id)
                .limit(1)
            ).first()
        if found is None and record.procedure_id:
            found = self.session.scalars(
                select(Notice)
                .where(Notice.procedure_id == record.procedure_id)
                .where(Notice.native_id != record.native_id)
                .order_by(Notice.first_seen_at, Notice.id)
                .limit(1)
            ).first()
            method = "procedure_id"
        if found is None and snap.get("deadline") and record.notice_type == "notice":
            found, confidence = self._similar(snap)
            method = "similarity"
        if found is None:
            return None
        if found.parent_id is not None:
            found = self.session.get(Notice, found.parent_id) or found
        if found is notice or found.id == notice.id:
            return None
        notice.parent_id = found.id
        notice.link_method = method
        notice.link_confidence = confidence
        return found

    def _similar(self, snap: dict[str, Any]) -> tuple[Notice | None, float]:
        """A relevant notice of another portal with the same deadline day, buyer and title."""
        deadline = parse_datetime(snap["deadline"])
        if deadline is None:
            return None, 0.0
        candidates = self.session.scalars(
            select(Notice)
            .where(Notice.source_id != self.source.id)
            .where(Notice.parent_id.is_(None))
            .where(Notice.relevant.is_(True))
            .where(Notice.deadline.between(deadline - _DAY, deadline + _DAY))
            .limit(50)
        ).all()
        scored = [(similarity(c.snapshot, snap), c) for c in candidates]
        best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
        if best[1] is None or best[0] < SIMILARITY_THRESHOLD:
            return None, 0.0
        return best[1], best[0]

    def _linked(self, root: Notice, notice: Notice, snap: dict[str, Any]) -> None:
        """A new notice of a known procedure: tell what it changes about the procedure."""
        procedure = dict(root.snapshot)
        procedure["deadline"] = root.deadline.isoformat() if root.deadline else None
        same_source = root.source_id == notice.source_id
        if not same_source and notice.url:
            link = {"source": self.source.name, "url": notice.url, "ref": notice.native_id}
            root.also = [*(root.also or []), link]
        outcome = linked_event(procedure, snap, same_source=same_source)
        if outcome is None:
            return
        kind, changes = outcome
        if kind in {"deadline_moved", "corrigendum"} and notice.deadline is not None:
            root.deadline = notice.deadline  # the procedure's current deadline
        self._event(root, kind, changes, origin=notice)

    def _apply(
        self,
        notice: Notice,
        record: NoticeRecord,
        snap: dict[str, Any],
        digest: str,
        verdict: Verdict,
        root: Notice | None,
    ) -> None:
        notice.url = snap["url"]
        notice.title = snap["title"] or record.native_id
        notice.buyer = snap["buyer"]
        notice.published = record.published
        notice.deadline = parse_datetime(snap["deadline"])
        notice.notice_type = record.notice_type
        notice.department = record.department
        notice.procedure_id = record.procedure_id
        notice.snapshot = snap
        notice.content_hash = digest
        notice.relevant = verdict.relevant
        notice.site = verdict.site
        notice.score = verdict.score
        notice.reasons = list(verdict.reasons)
        if root is not None and root.relevant:
            # A corrigendum or an award rarely repeats the words that made its procedure relevant.
            notice.relevant = True
            notice.site = notice.site or root.site
            if not verdict.relevant:
                notice.reasons = [*notice.reasons, f"part of procedure {root.native_id}"]
        notice.last_seen_at = self.now

    def _event(
        self,
        notice: Notice,
        kind: str,
        changes: list[FieldChange],
        *,
        origin: Notice | None = None,
    ) -> None:
        """Record an event on `notice` (made by `origin`, another notice of its procedure)."""
        author = origin or notice
        data = changes_json(changes)
        if origin is not None and self._already_told(notice, kind, data):
            return  # the same news from another portal: subscribers hear it once
        detail = None
        if origin is not None:
            detail = {
                "ref": origin.native_id,
                "url": origin.url,
                "source": self.source.name,
                "notice_type": origin.notice_type,
            }
        self.session.add(
            Event(
                key=event_key(self.source.name, author.native_id, author.version, kind),
                notice=notice,
                type=kind,
                created_at=self.now,
                version=author.version,
                changes=data,
                site=notice.site or author.site,
                detail=detail,
            )
        )
        self.result.events += 1

    def _already_told(self, notice: Notice, kind: str, changes: list[dict[str, Any]]) -> bool:
        if notice.id is None:
            return False
        previous = self.session.scalars(
            select(Event.changes).where(Event.notice_id == notice.id, Event.type == kind)
        ).all()
        return any(p == changes for p in previous)


_DAY = dt.timedelta(days=1)
