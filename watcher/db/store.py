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
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, insert, inspect, or_, select, text, update
from sqlalchemy.orm import Session

from watcher.core.amendments import contract_changes
from watcher.core.compiled import Member, compile_procedure
from watcher.core.diff import diff_snapshots, event_type
from watcher.core.linking import (
    SIMILARITY_BUDGET,
    SIMILARITY_THRESHOLD,
    buyer_matches,
    identifiers_conflict,
    similar_kinds,
    twin_key,
)
from watcher.core.normalize import clean_text, content_hash, parse_datetime, snapshot
from watcher.core.phases import phase_of, related_procedures, stage
from watcher.core.questions import SHORT_NAMES
from watcher.core.sanitize import clean_any, clean_record
from watcher.core.timeline import (
    FACTS_PORTAL,
    PROCEDURE_FIELDS,
    linked_event,
    procedure_facts,
    similarity,
)
from watcher.db.compiled import member, question_codes, recompile
from watcher.db.models import Event, Notice, NoticeVersion, SourceState
from watcher.db.search import index_notices
from watcher.match.matcher import Matcher, MatchInput, Verdict
from watcher.records import FieldChange, NoticeRecord, RawPage, RawRecord, RunResult, Unreadable

log = logging.getLogger("watcher.db.store")
__all__ = ["SIMILARITY_THRESHOLD", "PollStore"]


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
        departments=tuple(snap.get("departments") or ()),
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
    if isinstance(record, RawRecord) and record.digest is not None:
        return record.digest
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
    parse_raw: Callable[[RawRecord], NoticeRecord | Unreadable | None] | None = None
    # False for a backfill: history is stored (versions, verdicts, procedure links) but nothing is
    # announced, so feeds and subscribers are not flooded with years of old notices.
    announce: bool = True
    # True (a scheduled poll): on PostgreSQL the words of the notices written are indexed after
    # the poll commits (`watcher.db.search.fill_deferred`), not in its transaction.
    defer_search: bool = False
    _seen: dict[str, str] = field(default_factory=dict)
    _pending: list[tuple[RawPage, NoticeRecord | RawRecord, str]] = field(default_factory=list)
    _waiting: set[str] = field(default_factory=set)  # native ids in `_pending`
    _page: _Page = field(default_factory=_Page)
    _similar_index: list[tuple[dt.datetime, int]] | None = None
    _similar_seconds: float = 0.0
    # id(kept root) → database ids of the roots merged into it in this poll (not flushed yet).
    _merged: dict[int, set[int]] = field(default_factory=dict)
    _made_count: int = 0
    _analyzed: bool = False
    # Records that could not be read (issue 26): skipped here, counted and kept by the poll.
    unreadable: list[tuple[RawPage, Unreadable]] = field(default_factory=list)
    # Database ids of the first notices merged into another procedure in this page.
    _demoted: set[int] = field(default_factory=set)
    # Database ids of the page's new procedures written with their compiled record.
    _written: set[int] = field(default_factory=set)

    def add_page(
        self, page: RawPage, records: Sequence[NoticeRecord | RawRecord | Unreadable]
    ) -> None:
        """Take the records of one page; they are written in batches of about `BATCH` records
        (a page of an API, or a hundred one-notice detail pages), then let go of. Unreadable
        records are set aside in `unreadable`."""
        self.unreadable += [(page, r) for r in records if isinstance(r, Unreadable)]
        # Lone surrogates, NUL bytes and bidi controls go before anything is hashed (issue 18).
        readable = [clean_any(r) for r in records if not isinstance(r, Unreadable)]
        # Oldest first, so that an original notice is stored before its corrigenda and awards.
        for record in sorted(readable, key=lambda r: (r.published or _EPOCH, r.native_id)):
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
            parsed = self._parsed(page, item)
            if parsed is not None:
                changed.append((page, parsed, digest, notice_id))
        if changed:
            self._write(changed)

    def _parsed(self, page: RawPage, item: NoticeRecord | RawRecord) -> NoticeRecord | None:
        if isinstance(item, NoticeRecord):
            return item
        if self.parse_raw is None:
            raise TypeError("PollStore got raw records without a parse_raw")
        parsed = self.parse_raw(item)
        if isinstance(parsed, Unreadable):
            self.unreadable.append((page, parsed))
            self.result.fetched -= 1
            return None
        if parsed is None:
            return None
        # The raw payload is the raw record's, made storable already (`clean_raw_record`).
        return clean_record(parsed, raw_storable=parsed.raw is item.raw)

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
            made_ids = self._insert_numbered(groups, batch)
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
            index_notices(
                self.session,
                ((n.id, n.title, row["snapshot"], n.relevant) for n, row in batch.versions),
                deferred=self.defer_search,
            )
        if batch.events:
            rows = [{**row, "notice_id": n.id} for n, row in batch.events]
            self.session.execute(insert(_TABLES["events"]), rows)
        self._recompile(batch)

    def _procedures(self, batch: _Page) -> tuple[set[int], dict[int, list[Member]]]:
        """The procedures this page touched (first notice ids: those of its notices, and those
        merged, whose first notices are first notices no more), and among them the new ones with
        their notices in memory (all in this page, unless another procedure was merged into
        them): these are compiled without reading them back. Once the page's notices have ids."""
        roots: set[int] = set(self._demoted)
        made = {n.id for n in batch.made if id(n) not in self._merged}
        pages: dict[int, list[Notice]] = {}
        for notice, _ in batch.versions:
            parent = batch.parents.get(id(notice))
            root = parent.id if parent is not None else (notice.parent_id or notice.id)
            if root is not None:
                roots.add(root)
                pages.setdefault(root, []).append(notice)
        name, kind = self.source.name, self.source.kind
        known = {
            root: [member(n, name, kind) for n in notices]
            for root, notices in pages.items()
            if root in made and root not in self._demoted
        }
        return roots, known

    def _recompile(self, batch: _Page) -> None:
        """Compile again the procedures this page touched (`watcher.db.compiled`), but for those
        written with their new notices (`_insert_numbered`)."""
        roots, known = self._procedures(batch)
        roots -= self._written
        known = {root: members for root, members in known.items() if root not in self._written}
        written = self._written
        self._demoted, self._written = set(), set()
        before = question_codes(self.session, roots)
        recompile(self.session, roots, known)
        self._questions_raised(roots | set(known) | written, before)

    def _questions_raised(self, roots: set[int], before: dict[int, list[str]]) -> None:
        """A `question_raised` event for each question a relevant procedure's compiled record
        raises that it did not before (issue 28): once per procedure and question (its key),
        so a poll that changes nothing tells nothing; a backfill tells nothing either."""
        if not roots or not self.announce:
            return
        codes = Notice.compiled["question_codes"].as_string()
        query = select(Notice.id, Notice.native_id, Notice.site, Notice.version, codes).where(
            Notice.id.in_(roots), Notice.relevant.is_(True), Notice.parent_id.is_(None)
        )
        rows: list[dict[str, Any]] = []
        for ident, native, site, version, now in self.session.execute(query):
            for code in (now or "").split():
                if code not in before.get(ident, ()):
                    rows.append(
                        {
                            "notice_id": ident,
                            "key": f"{self.source.name}/{native}/question/{code}",
                            "type": "question_raised",
                            "created_at": self.now,
                            "version": version,
                            "changes": [
                                {
                                    "field": "question",
                                    "label": "Question à poser",
                                    "old": None,
                                    "new": SHORT_NAMES["fr"].get(code, code),
                                    "code": code,
                                }
                            ],
                            "site": site,
                            "detail": {"question": code},
                        }
                    )
        if rows:
            known = set(
                self.session.scalars(
                    select(Event.key).where(Event.key.in_([r["key"] for r in rows]))
                )
            )
            rows = [r for r in rows if r["key"] not in known]
        if rows:
            self.session.execute(insert(_TABLES["events"]), rows)
            self.result.events += len(rows)

    def _insert_numbered(
        self, groups: dict[frozenset[str], list[dict[str, Any]]], batch: _Page
    ) -> dict[str, int]:
        """PostgreSQL: number the new notices from their sequence in one query, then insert
        them without RETURNING (a plain executemany, pipelined by psycopg): a multi-row INSERT …
        RETURNING of a hundred rows costs psycopg ~20 ms to rewrite its placeholders (issue 16).
        The new procedures are compiled before, and written with their first notices."""
        rows = [row for group in groups.values() for row in group]
        ids = self.session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence('notices', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": len(rows)},
        ).all()
        for row, notice_id in zip(rows, ids, strict=True):
            row["id"] = notice_id
        numbered = {row["native_id"]: row["id"] for row in rows}
        for notice in batch.made:
            notice.id = numbered[notice.native_id]
        _, known = self._procedures(batch)
        compiled = {root: compile_procedure(members) for root, members in known.items()}
        regrouped: dict[frozenset[str], list[dict[str, Any]]] = {}
        for notice in batch.made:
            row = {**_notice_row(notice), "id": notice.id}
            if notice.id in compiled:
                row["compiled"] = compiled[notice.id]
            regrouped.setdefault(frozenset(row), []).append(row)
        for group in regrouped.values():
            self.session.execute(insert(_TABLES["notices"]), group)
        self._written = set(compiled)
        return numbered

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
        procedures = {pid for record in records for pid in self._procedure_ids(record)}
        if procedures:
            for notice in self.session.scalars(
                select(Notice).where(Notice.procedure_id.in_(procedures))
            ):
                links.by_procedure.setdefault(notice.procedure_id or "", []).append(notice)
        return links

    def _procedure_ids(self, record: NoticeRecord) -> list[str]:
        """The procedure identifiers a record carries: its own, and those it names (OCDS
        `relatedProcesses`)."""
        ids = [record.procedure_id] if record.procedure_id else []
        return ids + [p for p in related_procedures(self.source.kind, record.raw) if p not in ids]

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
        notice.phase = phase_of(self.source.kind, record.notice_type, snap, record.raw)
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
            self._event(notice, "planned" if notice.phase == "planning" else "new", [])
            notice.announced = True
            return
        changes = diff_snapshots(old_snap, snap)
        if notice.phase == "contractAmendment":
            changes = self._amended(notice, record, changes)
        if changes:
            kind = event_type(False, changes, record.notice_type)
            if notice.phase == "contractAmendment" and kind in {"changed", "awarded"}:
                kind = "contract_modified"
            self._event(root or notice, kind, changes, origin=notice if root else None)

    def _amended(
        self, notice: Notice, record: NoticeRecord, changes: list[FieldChange]
    ) -> list[FieldChange]:
        """A modified contract's changes: its new amount and end date first (`amendments`)."""
        old_raw = self.session.scalar(
            select(NoticeVersion.raw).where(
                NoticeVersion.notice_id == notice.id, NoticeVersion.version == notice.version - 1
            )
        )
        terms = contract_changes(old_raw or "", record.raw)
        fields = {c.field for c in terms}
        return [*terms, *(c for c in changes if c.field not in fields)]

    def _parent(self, notice: Notice) -> Notice | None:
        """The root `notice` was linked to (in this page, or stored)."""
        if id(notice) in self._page.parents:
            return self._page.parents[id(notice)]
        if notice.parent_id is not None:
            return self.session.get(Notice, notice.parent_id)
        return None

    def _root(self, notice: Notice, record: NoticeRecord, snap: dict[str, Any]) -> Notice | None:
        """The first notice of the procedure `record` belongs to, if another one is known.

        Identifiers first (references to earlier notices, procedure identifiers): when they reach
        two stored procedures, those are one and are merged (`_merge`). Similarity only for a
        contract notice that no identifier links (`watcher.core.linking`).
        """
        if notice.parent_id is not None:
            return self.session.get(Notice, notice.parent_id)
        if notice.id is not None and notice.announced:
            return None  # already a procedure of its own
        by_ref = [
            n
            for ref in dict.fromkeys(record.related_ids)
            for n in self._page.by_native.get(ref, ())
        ]
        pids = self._procedure_ids(record)
        by_procedure = [
            n
            for pid in pids
            for n in self._page.by_procedure.get(pid, ())
            if n is not notice and n.procedure_id == pid
        ]
        method, confidence = ("reference" if by_ref else "procedure_id"), 1.0
        roots: list[Notice] = []
        for candidate in [*by_ref, *by_procedure]:
            top = self._parent(candidate) or candidate
            if top is not notice and (top.id is None or top.id != notice.id) and top not in roots:
                roots.append(top)
        found = self._page.earliest(roots)
        if found is not None:
            for other in roots:
                if other is not found:
                    self._merge(found, other)
        elif snap.get("deadline") and notice.phase == "tender":
            found, confidence = self._similar(snap)
            method = "similarity"
        if found is None:
            return None
        if found.id is None:
            self._page.parents[id(notice)] = found  # linked once written (`_flush`)
        else:
            notice.parent_id = found.id
        notice.link_method = method
        notice.link_confidence = confidence
        if method == "similarity":
            log.info(
                "%s %s linked by similarity (%.2f) to notice %s",
                self.source.name,
                record.native_id,
                confidence,
                found.native_id,
            )
        return found

    def _merge(self, keep: Notice, gone: Notice) -> None:
        """`gone`'s procedure is `keep`'s: its notices join `keep` (their versions and events stay
        theirs: nothing is lost, and nothing is announced again)."""
        log.info("procedures %s and %s are one: merged", keep.native_id, gone.native_id)
        self.result.merged += 1
        if gone.id is not None:
            self._demoted.add(gone.id)
            joined = self._merged.setdefault(id(keep), set())
            joined |= {gone.id, *self._merged.pop(id(gone), set())}
        if gone.id is None or keep.id is None:
            self._page.parents[id(gone)] = keep
        else:
            gone.parent_id = keep.id
        gone.link_method, gone.link_confidence = "merged", 1.0
        for key, parent in list(self._page.parents.items()):
            if parent is gone:
                self._page.parents[key] = keep
        if gone.id is not None and keep.id is not None:
            self.session.execute(
                update(Notice).where(Notice.parent_id == gone.id).values(parent_id=keep.id),
                execution_options={"synchronize_session": False},
            )
            loaded = [n for group in self._page.by_procedure.values() for n in group]
            loaded += [n for group in self._page.by_native.values() for n in group]
            for member in loaded:
                if member.parent_id == gone.id and member is not gone:
                    member.parent_id = keep.id
        links = [*(keep.also or []), *(gone.also or [])]
        if gone.url and (gone.source_id != keep.source_id or gone.phase == "tender"):
            links.append(self._link_of(gone))
        keep.also = _unique_links(links)
        gone.also = None
        state = dict(self._state(gone))
        state.update({k: v for k, v in self._state(keep).items() if v})
        keep.procedure_state = state
        if keep.deadline is None and gone.deadline is not None:
            keep.deadline = gone.deadline
        if gone.relevant and not keep.relevant:
            keep.relevant, keep.site = True, keep.site or gone.site
        if self._similar_index is not None:
            self._similar_index = [e for e in self._similar_index if e[1] != gone.id]

    def _link_of(self, notice: Notice, source: str | None = None) -> dict[str, Any]:
        """How the feeds and pages link another notice of a procedure."""
        if source is None:
            same = notice.source_id == self.source.id
            source = self.source.name if same else notice.source.name
        link: dict[str, Any] = {
            "source": source,
            "url": notice.url,
            "ref": notice.native_id,
            "phase": notice.phase,
        }
        if notice.link_method == "similarity":
            link["confidence"] = notice.link_confidence
        return link

    def _state(self, root: Notice) -> dict[str, Any]:
        """The procedure's current facts: what its last notices told, else its first notice's."""
        if root.procedure_state:
            return dict(root.procedure_state)
        facts = procedure_facts(root.snapshot or {})
        facts["deadline"] = root.deadline.isoformat() if root.deadline else None
        return facts

    def _similar(self, snap: dict[str, Any]) -> tuple[Notice | None, float]:
        """A relevant contract notice of a portal that can carry the same tender, with the same
        deadline day, the same buyer, a close title and no other procedure identifier."""
        kinds = similar_kinds(self.source.kind)
        deadline = parse_datetime(snap["deadline"])
        if deadline is None or not kinds or self._similar_seconds > SIMILARITY_BUDGET:
            return None, 0.0
        started = time.monotonic()
        try:
            return self._most_similar(snap, deadline, kinds)
        finally:
            self._similar_seconds += time.monotonic() - started
            if self._similar_seconds > SIMILARITY_BUDGET:
                log.warning(
                    "%s: similarity linking stopped for this poll after %.1f s",
                    self.source.name,
                    self._similar_seconds,
                )

    def _most_similar(
        self, snap: dict[str, Any], deadline: dt.datetime, kinds: frozenset[str]
    ) -> tuple[Notice | None, float]:
        index = self._similar_deadlines(kinds)
        low = bisect.bisect_left(index, (deadline - _DAY, -1))
        high = bisect.bisect_right(index, (deadline + _DAY, 1 << 62))
        if low == high:
            return None, 0.0
        ids = sorted(notice_id for _, notice_id in index[low:high])[:SIMILAR_CANDIDATES]
        taken = set(
            self.session.scalars(
                select(Notice.parent_id).where(
                    Notice.parent_id.in_(ids), Notice.source_id == self.source.id
                )
            )
        )
        candidates = [
            c
            for c in self.session.scalars(select(Notice).where(Notice.id.in_(ids)))
            if c.deadline is not None
            and abs(c.deadline - deadline) <= _DAY
            and c.id not in taken  # already has a notice of this portal: another tender
            and buyer_matches(c.buyer, snap.get("buyer"))
            and not identifiers_conflict(c.snapshot or {}, snap)
        ]
        scored = [(similarity(c.snapshot, snap), c) for c in candidates]
        best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
        if best[1] is None or best[0] < SIMILARITY_THRESHOLD:
            return None, 0.0
        return best[1], best[0]

    def _similar_deadlines(self, kinds: frozenset[str]) -> list[tuple[dt.datetime, int]]:
        """(deadline, id) of the relevant root notices of the sources of `kinds`, sorted: read
        once a poll (this poll changes no other source's notices but for a deadline, see
        `_linked`)."""
        if self._similar_index is None:
            rows = self.session.execute(
                select(Notice.deadline, Notice.id)
                .join(SourceState, SourceState.id == Notice.source_id)
                .where(Notice.source_id != self.source.id)
                .where(SourceState.kind.in_(sorted(kinds)))
                .where(Notice.parent_id.is_(None))
                .where(Notice.relevant.is_(True))
                .where(Notice.deadline.is_not(None))
            )
            self._similar_index = sorted((when, notice_id) for when, notice_id in rows)
        return self._similar_index

    def _linked(self, root: Notice, notice: Notice, snap: dict[str, Any]) -> None:
        """A new notice of a known procedure: tell what its phase changes about the procedure.

        A contract notice after a prior information notice is the call for tenders
        (`tender_published`, with its facts); the same phase from another portal is no news (its
        link joins the procedure's); a corrigendum tells the fields it changes; an award its
        winners and amounts; a contract modification its new amount.
        """
        procedure = self._state(root)
        same_source = root.source_id == notice.source_id
        root_portal = self.source.name if same_source else root.source.name
        same_wording = procedure.get(FACTS_PORTAL, root_portal) == self.source.name
        phase = notice.phase or "tender"
        if notice.url and phase == "tender":
            root.also = _unique_links([*(root.also or []), self._link_of(notice, self.source.name)])
        told = self._told(root)
        if phase == "tender" and "tender" not in told:
            facts = procedure_facts(snap)
            self._event(root, "tender_published", [], origin=notice, facts=facts)
            root.procedure_state = {
                **procedure,
                **{k: v for k, v in facts.items() if v},
                FACTS_PORTAL: self.source.name,
            }
            if notice.deadline is not None:
                self._move_deadline(root, notice, same_source)
            return
        if phase in {"planning", "tender"}:
            # A prior information notice of a known procedure, or the call for tenders again
            # (on another portal, or republished): its link is kept, nothing is told again.
            return
        if not same_source and stage(phase) in told and phase != "tenderAmendment":
            self._twin(root, notice, phase)
            return  # the same news from another portal: its link is kept, nothing is told again
        outcome = linked_event(procedure, snap, same_source=same_source, same_wording=same_wording)
        if outcome is None:
            return
        kind, changes = outcome
        if not changes and (stage(phase) in told or not same_source) and kind != "cancelled":
            self._twin(root, notice, phase)
            return  # what the procedure already tells (the same award or corrigendum, again)
        if phase == "contractAmendment" and kind in {"awarded", "changed"}:
            kind = "contract_modified"
        if kind == "cancelled" and "cancellation" in told and not same_source:
            self._twin(root, notice, phase)
            return
        changed = {c.field for c in changes}
        root.procedure_state = {
            **procedure,
            **{k: snap.get(k) for k in PROCEDURE_FIELDS if k in changed and snap.get(k)},
        }
        if kind in {"deadline_moved", "corrigendum"} and notice.deadline is not None:
            self._move_deadline(root, notice, same_source)
        self._event(root, kind, changes, origin=notice)

    def _twin(self, root: Notice, notice: Notice, phase: str) -> None:
        """Another portal's notice of news the procedure told already (an award, a contract, a
        cancellation, or the corrigendum it told last): its link is kept beside the event that
        told it (`twin_of`), so that the event's entry names both portals' notices, the same
        whichever came first. When it is not sure which event it repeats, it joins none."""
        step = stage(phase)
        if not notice.url or (step not in _TWIN_STEPS and phase != "tenderAmendment"):
            return
        teller = self._teller(root, step, phase)
        if teller is None or teller[0] == self.source.name:
            return  # not told yet, or told by this same portal (a republication)
        link = {**self._link_of(notice, self.source.name), "twin_of": twin_key(*teller)}
        root.also = _unique_links([*(root.also or []), link])

    def _teller(self, root: Notice, step: str, phase: str) -> tuple[str, str] | None:
        """(source, ref) of the other notice whose event told this news, or None.

        An award, a contract or a cancellation: the newest event of that step. A corrigendum
        says again what the procedure says now, so it repeats the newest news only, and only if
        that was a corrigendum (an older one may have said something else)."""
        page = (
            (row["type"], notice.phase, row["detail"])
            for notice, row in reversed(self._page.events)
            if self._tells(root, notice)
        )
        for kind, notice_phase, detail in itertools.chain(page, self._stored_newest_first(root)):
            if phase == "tenderAmendment":
                if kind in _REMINDERS:
                    continue
                told_by = detail.get("phase") if isinstance(detail, dict) else None
                return _teller_of(detail) if told_by == "tenderAmendment" else None
            if _event_stage(kind, notice_phase) == step:
                return _teller_of(detail)
        return None

    def _stored_newest_first(self, root: Notice) -> Iterator[Any]:
        """(type, phase, detail) of the procedure's stored events, newest first; queried only
        when the events of this page did not settle the question."""
        query = self._stored_events(root, Event.type, Notice.phase, Event.detail)
        if query is not None:
            yield from self.session.execute(query.order_by(Event.id.desc()))

    def _tells(self, root: Notice, notice: Notice) -> bool:
        """Whether an event recorded on `notice` in this page belongs to `root`'s story."""
        return notice is root or self._page.parents.get(id(notice)) is root

    def _stored_events(self, root: Notice, *columns: Any) -> Select[Any] | None:
        """`columns` of the stored events of `root`'s procedure (its notices and those merged
        into it), or None when none can be stored yet."""
        ids = {*([root.id] if root.id is not None else []), *self._merged.get(id(root), set())}
        if not ids:
            return None
        return (
            select(*columns)
            .join(Notice, Notice.id == Event.notice_id)
            .where(or_(Notice.id.in_(ids), Notice.parent_id.in_(ids)))
        )

    def _move_deadline(self, root: Notice, notice: Notice, same_source: bool) -> None:
        """The procedure's deadline is now `notice`'s."""
        assert notice.deadline is not None
        if not same_source and root.relevant and root.parent_id is None:
            # Keep the deadline index true to the other portal's notice.
            index = [e for e in self._similar_index or [] if e[1] != root.id]
            bisect.insort(index, (notice.deadline, root.id))
            self._similar_index = index if self._similar_index is not None else None
        root.deadline = notice.deadline  # the procedure's current deadline
        root.deadline_local, root.deadline_zone = notice.deadline_local, notice.deadline_zone
        if root.procedure_state is not None:
            root.procedure_state = {**root.procedure_state, "deadline": notice.deadline.isoformat()}

    def _told(self, root: Notice) -> set[str]:
        """The steps of its story a procedure has told already (`phases.stage`): `planning`,
        `tender`, `award`, `contract`, `cancellation`, from the events of all its notices."""
        told = {
            _event_stage(row["type"], notice.phase)
            for notice, row in self._page.events
            if self._tells(root, notice)
        }
        query = self._stored_events(root, Event.type, Notice.phase)
        if query is not None:
            told.update(_event_stage(kind, phase) for kind, phase in self.session.execute(query))
        return told

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
        notice.departments = list(record.departments) or None
        notice.deadline_local = record.deadline_local if notice.deadline else None
        notice.deadline_zone = record.deadline_zone if notice.deadline else None
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
        facts: dict[str, Any] | None = None,
    ) -> None:
        """Record an event on `notice` (made by `origin`, another notice of its procedure, whose
        `facts` the event tells: a call for tenders' deadline, lots, value and documents)."""
        author = origin or notice
        data = changes_json(changes)
        if origin is not None and self._already_told(notice, kind, data):
            return  # the same news from another portal: subscribers hear it once
        detail: dict[str, Any] | None = None
        if origin is not None:
            detail = {
                "ref": origin.native_id,
                "url": origin.url,
                "source": self.source.name,
                "notice_type": origin.notice_type,
                "phase": origin.phase,
            }
            if (origin.snapshot or {}).get("outcome"):
                detail["outcome"] = origin.snapshot["outcome"]  # unsuccessful: never an award
            if facts is not None:
                detail["facts"] = facts
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


def _unique_links(links: list[Any]) -> list[Any]:
    """Links of a procedure's other notices, once each (by portal and reference), sorted, so
    that the order the portals were polled in changes nothing."""
    found: dict[tuple[str, str], Any] = {}
    for link in links:
        if isinstance(link, dict):
            found.setdefault((str(link.get("source")), str(link.get("ref"))), link)
    return [found[key] for key in sorted(found)]


# The steps whose news another portal may publish again (their link joins the event's entry).
_TWIN_STEPS = frozenset({"award", "contract", "cancellation"})
# Events that tell no news of a notice of their own (reminders, documents).
_REMINDERS = frozenset({"deadline_soon", "documents_changed", "question_raised"})


def _teller_of(detail: Any) -> tuple[str, str] | None:
    """(source, ref) of the notice named in an event's `detail`."""
    if isinstance(detail, dict) and detail.get("source") and detail.get("ref"):
        return str(detail["source"]), str(detail["ref"])
    return None


def _event_stage(kind: str, phase: str | None) -> str:
    """The step of the story an event told."""
    if kind == "tender_published":
        return "tender"
    if kind == "planned":
        return "planning"
    if kind == "awarded":
        return "award"
    if kind == "cancelled":
        return "cancellation"
    if kind == "contract_modified":
        return "contract"
    if kind == "new":
        return stage(phase or "tender")
    return "other"
