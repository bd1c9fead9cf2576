"""Storing one poll's notices: versions, relevance verdicts and events, in batches.

`PollStore` runs inside the poll's single transaction. Records whose raw payload hash is unchanged are
skipped before anything else is done (before parsing, when the source hands over `RawRecord`s); new
and changed ones get an append-only `NoticeVersion`, their verdict from the matcher, and an `Event`
when a reader should hear about them.

A page costs a handful of queries, not a few per record (issue 9): the known hashes of its records
in one query, the notices it may link to (by reference, by procedure id) in one query each, and
one write of everything at the end of the page. Notices of other portals that a notice may be the
same tender as are indexed by deadline once per poll.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.orm import Session

from watcher.db.models import Event, Notice, SourceState
from watcher.diff import diff_snapshots, event_type
from watcher.match import Matcher, MatchInput, Verdict
from watcher.normalize import clean_text, content_hash, parse_datetime, snapshot
from watcher.records import FieldChange, NoticeRecord, RawPage, RawRecord, RunResult
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
_DAY = dt.timedelta(days=1)
# Records written together (one API page; a hundred one-notice detail pages).
BATCH = 100
# New notices in one poll after which PostgreSQL's statistics of the table are refreshed.
ANALYZE_AFTER = 1000
# Other portals' notices compared with one notice for similarity, at most (nearest ids first).
SIMILAR_CANDIDATES = 50


def record_digest(record: NoticeRecord | RawRecord) -> str:
    """The content hash of a record: of its raw payload, or of its fields when it has none."""
    if record.raw:
        return content_hash(record.raw)
    return content_hash(repr(record))


@dataclass
class _Page:
    """One page being written: what it may link to (read in one query each), the notices it
    makes, and its rows, written together at the end of the page."""

    by_native: dict[str, list[Notice]] = field(default_factory=dict)
    by_procedure: dict[str, list[Notice]] = field(default_factory=dict)
    made: list[Notice] = field(default_factory=list)  # new notices, not in the session
    order: dict[int, int] = field(default_factory=dict)  # id(new notice) → order made
    parents: dict[int, Notice] = field(default_factory=dict)  # id(notice) → root not written yet
    versions: list[tuple[Notice, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[Notice, dict[str, Any]]] = field(default_factory=list)

    def add(self, notice: Notice) -> None:
        self.by_native.setdefault(notice.native_id, []).append(notice)
        if notice.procedure_id:
            self.by_procedure.setdefault(notice.procedure_id, []).append(notice)

    def earliest(self, notices: Iterable[Notice]) -> Notice | None:
        """The first notice by (first seen, id); notices not written yet come last, in the order
        they were made (they get their ids in that order)."""
        big = 1 << 62
        return min(
            notices,
            key=lambda n: (n.first_seen_at, big + self.order[id(n)] if n.id is None else n.id),
            default=None,
        )


_TABLES = Notice.metadata.tables
_NOTICE_COLUMNS = tuple(column.key for column in _TABLES["notices"].columns if column.key != "id")


def _notice_row(notice: Notice) -> dict[str, Any]:
    """A new notice's row, without the attributes never set: the database makes them NULL, as
    the ORM would (a JSON column given None would hold JSON `null` instead)."""
    values = inspect(notice).dict
    return {key: values[key] for key in _NOTICE_COLUMNS if key in values}


@dataclass
class PollStore:
    """Writes one poll's records for one source inside the caller's transaction."""

    session: Session
    source: SourceState
    matcher: Matcher
    now: dt.datetime
    result: RunResult
    # How a source turns a `RawRecord` into its notice (`Source.parse_raw`), for sources that hand
    # over raw records.
    parse_raw: Callable[[RawRecord], NoticeRecord | None] | None = None
    # False for a backfill: history is stored (versions, verdicts, procedure links) but nothing is
    # announced, so feeds and subscribers are not flooded with years of old notices.
    announce: bool = True
    _seen: dict[str, str] = field(default_factory=dict)
    _pending: list[tuple[RawPage, NoticeRecord | RawRecord, str]] = field(default_factory=list)
    _waiting: set[str] = field(default_factory=set)  # native ids in `_pending`
    _page: _Page = field(default_factory=_Page)
    _similar_index: list[tuple[dt.datetime, int]] | None = None
    _made_count: int = 0
    _analyzed: bool = False

    def add_page(self, page: RawPage, records: Sequence[NoticeRecord | RawRecord]) -> None:
        """Take the records of one page; they are written in batches of about `BATCH` records
        (a page of an API, or a hundred one-notice detail pages), then let go of."""
        # Oldest first, so that an original notice is stored before its corrigenda and awards.
        for record in sorted(records, key=lambda r: (r.published or _EPOCH, r.native_id)):
            digest = record_digest(record)
            if self._seen.get(record.native_id) == digest:
                continue  # the same record twice in one poll (overlapping windows or pages)
            if record.native_id in self._waiting:
                self._write_waiting()  # a newer version of a waiting record: that one first
            self._seen[record.native_id] = digest
            self._pending.append((page, record, digest))
            self._waiting.add(record.native_id)
            self.result.fetched += 1
        if len(self._pending) >= BATCH:
            self._write_waiting()

    def finish(self) -> None:
        """Write what is still waiting: call once after the last page."""
        if self._pending:
            self._write_waiting()

    def _write_waiting(self) -> None:
        fresh, self._pending, self._waiting = self._pending, [], set()
        known = {
            native_id: (notice_id, digest, relevant)
            for notice_id, native_id, digest, relevant in self.session.execute(
                select(Notice.id, Notice.native_id, Notice.content_hash, Notice.relevant).where(
                    Notice.source_id == self.source.id,
                    Notice.native_id.in_({r.native_id for _, r, _ in fresh}),
                )
            )
        }
        changed: list[tuple[RawPage, NoticeRecord, str, int | None]] = []
        for page, item, digest in fresh:
            notice_id, stored, relevant = known.get(item.native_id, (None, None, False))
            if stored == digest:
                self.result.unchanged += 1
                self.result.relevant += int(bool(relevant))
                continue
            parsed = self._parsed(item)
            if parsed is not None:
                changed.append((page, parsed, digest, notice_id))
        if changed:
            self._write(changed)

    def _parsed(self, item: NoticeRecord | RawRecord) -> NoticeRecord | None:
        if isinstance(item, NoticeRecord):
            return item
        if self.parse_raw is None:
            raise TypeError("PollStore got raw records without a parse_raw")
        return self.parse_raw(item)

    def _write(self, changed: list[tuple[RawPage, NoticeRecord, str, int | None]]) -> None:
        ids = [notice_id for _, _, _, notice_id in changed if notice_id is not None]
        query = select(Notice).where(Notice.id.in_(ids))
        current = {n.id: n for n in self.session.scalars(query)} if ids else {}
        self._page = self._links([record for _, record, _, _ in changed])
        with self.session.no_autoflush:
            for page, record, digest, notice_id in changed:
                notice = current.get(notice_id) if notice_id is not None else None
                self._store(notice, record, digest, page)
        self._flush(self._page)
        self._made_count += len(self._page.made)
        if self._made_count >= ANALYZE_AFTER and not self._analyzed:
            self._analyze()
        self._page = _Page()
        self.session.expunge_all()
        self.session.add(self.source)

    def _flush(self, batch: _Page) -> None:
        """Write a page: its new notices in one statement, the changed ones through the session,
        then versions and events in one statement each. Plain Core statements: the ORM's bulk
        insert leaves out None values, which splits a page into many small statements."""
        groups: dict[frozenset[str], list[dict[str, Any]]] = {}
        for notice in batch.made:
            row = _notice_row(notice)
            groups.setdefault(frozenset(row), []).append(row)
        # Ids come back in any order (asking for the rows' order costs a statement per row on
        # SQLite); a page's new notices have distinct native ids.
        table = _TABLES["notices"]
        statement = insert(table).returning(table.c.id, table.c.native_id)
        made_ids: dict[str, int] = {}
        if groups and self.session.get_bind().dialect.name == "postgresql":
            made_ids = self._insert_numbered(groups)
        for rows in groups.values() if not made_ids else ():  # one statement per column set
            made_ids.update((native, i) for i, native in self.session.execute(statement, rows))
        for notice in batch.made:
            notice.id = made_ids[notice.native_id]
        new = {id(n) for n in batch.made}
        late = [
            {"id": n.id, "parent_id": batch.parents[id(n)].id}
            for n in batch.made
            if id(n) in batch.parents
        ]
        if late:
            self.session.execute(update(Notice), late)
        for notice, _ in batch.versions:
            if id(notice) in batch.parents and id(notice) not in new:
                notice.parent_id = batch.parents[id(notice)].id
        self.session.flush()
        if batch.versions:
            rows = [{**row, "notice_id": n.id} for n, row in batch.versions]
            self.session.execute(insert(_TABLES["notice_versions"]), rows)
        if batch.events:
            rows = [{**row, "notice_id": n.id} for n, row in batch.events]
            self.session.execute(insert(_TABLES["events"]), rows)

    def _insert_numbered(
        self, groups: dict[frozenset[str], list[dict[str, Any]]]
    ) -> dict[str, int]:
        """PostgreSQL: number the new notices from their sequence in one query, then insert
        them without RETURNING (a plain executemany, pipelined by psycopg): a multi-row INSERT …
        RETURNING of a hundred rows costs psycopg ~20 ms to rewrite its placeholders (issue 16)."""
        rows = [row for group in groups.values() for row in group]
        ids = self.session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence('notices', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": len(rows)},
        ).all()
        for row, notice_id in zip(rows, ids, strict=True):
            row["id"] = notice_id
        for group in groups.values():
            self.session.execute(insert(_TABLES["notices"]), group)
        return {row["native_id"]: row["id"] for row in rows}

    def _analyze(self) -> None:
        """Refresh PostgreSQL's statistics of `notices` once a poll has added many: a table
        that was small when last analysed makes the planner read every notice of the source
        instead of the index for each page's lookups (the cost grows with the poll). Counts
        this transaction's own rows; skipped if another session is analysing it."""
        self._analyzed = True
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("ANALYZE (SKIP_LOCKED) notices"))

    def _links(self, records: list[NoticeRecord]) -> _Page:
        """The notices the page's records may belong to: by reference and by procedure id."""
        links = _Page()
        related = {ref for record in records for ref in record.related_ids}
        if related:
            query = select(Notice).where(
                Notice.source_id == self.source.id, Notice.native_id.in_(related)
            )
            for notice in self.session.scalars(query):
                links.by_native.setdefault(notice.native_id, []).append(notice)
        procedures = {record.procedure_id for record in records if record.procedure_id}
        if procedures:
            for notice in self.session.scalars(
                select(Notice).where(Notice.procedure_id.in_(procedures))
            ):
                links.by_procedure.setdefault(notice.procedure_id or "", []).append(notice)
        return links

    def _store(
        self, notice: Notice | None, record: NoticeRecord, digest: str, page: RawPage
    ) -> None:
        snap = snapshot(record)
        verdict = self.matcher.match(match_input(snap))
        is_new = notice is None
        if notice is None:
            # Made here, written with the page's other new notices (see `_flush`).
            notice = Notice(
                source_id=self.source.id,
                native_id=record.native_id,
                version=1,
                announced=False,
                first_seen_at=self.now,
            )
            self._page.order[id(notice)] = len(self._page.made)
            self._page.made.append(notice)
            old_snap = None
            self.result.new += 1
        else:
            old_snap = notice.snapshot
            notice.version += 1
            self.result.changed += 1
        root = self._root(notice, record, snap)
        self._apply(notice, record, snap, digest, verdict, root)
        self._page.add(notice)
        if notice.relevant:
            self.result.relevant += 1
        version = {
            "version": notice.version,
            "content_hash": digest,
            "raw": record.raw,
            "snapshot": snap,
            "fetched_at": page.fetched_at or self.now,
            "fetch_url": page.url,
        }
        self._page.versions.append((notice, version))
        if not notice.relevant:
            return
        if not self.announce:
            notice.announced = True
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

    def _parent(self, notice: Notice) -> Notice | None:
        """The root `notice` was linked to (in this page, or stored)."""
        if id(notice) in self._page.parents:
            return self._page.parents[id(notice)]
        if notice.parent_id is not None:
            return self.session.get(Notice, notice.parent_id)
        return None

    def _root(self, notice: Notice, record: NoticeRecord, snap: dict[str, Any]) -> Notice | None:
        """The first notice of the procedure `record` belongs to, if another one is known."""
        if notice.parent_id is not None:
            return self.session.get(Notice, notice.parent_id)
        if notice.id is not None and notice.announced:
            return None  # already a procedure of its own
        found: Notice | None = None
        method, confidence = "reference", 1.0
        if record.related_ids:
            refs = set(record.related_ids)
            found = self._page.earliest(
                n for ref in refs for n in self._page.by_native.get(ref, ())
            )
        if found is None and record.procedure_id:
            found = self._page.earliest(
                n
                for n in self._page.by_procedure.get(record.procedure_id, ())
                if n.procedure_id == record.procedure_id and n.native_id != record.native_id
            )
            method = "procedure_id"
        if found is None and snap.get("deadline") and record.notice_type == "notice":
            found, confidence = self._similar(snap)
            method = "similarity"
        if found is None:
            return None
        found = self._parent(found) or found
        if found is notice or (found.id is not None and found.id == notice.id):
            return None
        if found.id is None:
            self._page.parents[id(notice)] = found  # linked once written (`_flush`)
        else:
            notice.parent_id = found.id
        notice.link_method = method
        notice.link_confidence = confidence
        return found

    def _similar(self, snap: dict[str, Any]) -> tuple[Notice | None, float]:
        """A relevant notice of another portal with the same deadline day, buyer and title."""
        deadline = parse_datetime(snap["deadline"])
        if deadline is None:
            return None, 0.0
        index = self._similar_deadlines()
        low = bisect.bisect_left(index, (deadline - _DAY, -1))
        high = bisect.bisect_right(index, (deadline + _DAY, 1 << 62))
        if low == high:
            return None, 0.0
        ids = sorted(notice_id for _, notice_id in index[low:high])[:SIMILAR_CANDIDATES]
        candidates = [
            c
            for c in self.session.scalars(select(Notice).where(Notice.id.in_(ids)))
            if c.deadline is not None and abs(c.deadline - deadline) <= _DAY
        ]
        scored = [(similarity(c.snapshot, snap), c) for c in candidates]
        best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
        if best[1] is None or best[0] < SIMILARITY_THRESHOLD:
            return None, 0.0
        return best[1], best[0]

    def _similar_deadlines(self) -> list[tuple[dt.datetime, int]]:
        """(deadline, id) of the relevant root notices of other sources, sorted: read once a poll
        (this poll changes no other source's notices but for a deadline, see `_linked`)."""
        if self._similar_index is None:
            rows = self.session.execute(
                select(Notice.deadline, Notice.id)
                .where(Notice.source_id != self.source.id)
                .where(Notice.parent_id.is_(None))
                .where(Notice.relevant.is_(True))
                .where(Notice.deadline.is_not(None))
            )
            self._similar_index = sorted((when, notice_id) for when, notice_id in rows)
        return self._similar_index

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
            if not same_source and root.relevant and root.parent_id is None:
                # Keep the deadline index true to the other portal's notice.
                index = [e for e in self._similar_deadlines() if e[1] != root.id]
                bisect.insort(index, (notice.deadline, root.id))
                self._similar_index = index
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
        row = {
            "key": event_key(self.source.name, author.native_id, author.version, kind),
            "type": kind,
            "created_at": self.now,
            "version": author.version,
            "changes": data,
            "site": notice.site or author.site,
            "detail": detail,
        }
        self._page.events.append((notice, row))
        self.result.events += 1

    def _already_told(self, notice: Notice, kind: str, changes: list[dict[str, Any]]) -> bool:
        """Whether `notice` has an event of this kind with these changes (stored, or told earlier
        in this page)."""
        told = self._page.events
        if any(n is notice and r["type"] == kind and r["changes"] == changes for n, r in told):
            return True
        if notice.id is None:
            return False
        previous = self.session.scalars(
            select(Event.changes).where(Event.notice_id == notice.id, Event.type == kind)
        ).all()
        return any(p == changes for p in previous)
