"""What the feeds read from the database: events in (created_at, id) order, streamed or paged.

Queries select plain columns (no ORM objects, no lazy loads) of event, notice, source and the
notice version the event was made from: an entry shows the notice as it was when the event happened,
so an archive page reads the same tomorrow as today. Only the snapshot keys an entry shows are
extracted (in SQL), never a whole snapshot with its long description. A build streams the events by
keyset pagination on the `(created_at, id)` index, then reads each batch's details in one query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from watcher.db.models import Event, Notice, NoticeVersion, SourceState
from watcher.publish.catalog import ALL, EVENT_TYPES, FeedSpec
from watcher.publish.entries import SNAPSHOT_KEYS
from watcher.publish.ical import Deadline

BATCH = 2000
# Relevance as an expression rather than the bare indexed column: without statistics SQLite would
# start every query from the relevant-notices index and probe the events of each notice, where
# starting from the events (an id list, the `(created_at, id)` or the site index) is what is fast.
RELEVANT = func.coalesce(Notice.relevant, False).is_(True)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event with what rendering it needs."""

    id: int
    key: str
    type: str
    created_at: dt.datetime
    changes: list[dict[str, Any]]
    site: str | None
    source: str
    detail: dict[str, Any] | None
    also: list[Any] | None
    snapshot: dict[str, Any]
    notice_id: int | None = None
    # The procedure's current title (its compiled record), None before it was compiled.
    procedure_title: str | None = None


# Snapshot keys read as text or numbers (no JSON decoding per row); any other key is read as JSON.
_TEXT_KEYS = frozenset(
    {"title", "buyer", "url", "deadline", "notice_type", "currency", "deadline_local"}
    | {"deadline_zone"}
)
_NUMBER_KEYS = frozenset({"value"})


def _extract(snapshot: Any, key: str) -> ColumnElement[Any]:
    element = snapshot[key]
    if key in _TEXT_KEYS:
        return element.as_string()  # type: ignore[no-any-return]
    if key in _NUMBER_KEYS:
        return element.as_float()  # type: ignore[no-any-return]
    return element  # type: ignore[no-any-return]


def _snapshot_key(key: str) -> ColumnElement[Any]:
    """One snapshot key of the event's version, or of the notice when the version is missing."""
    return case(
        (NoticeVersion.id.is_(None), _extract(Notice.snapshot, key)),
        else_=_extract(NoticeVersion.snapshot, key),
    )


def _ids() -> Select[Any]:
    """Ids of the events of relevant notices (narrowed, ordered and cut by the caller)."""
    return (
        select(Event.id)
        .select_from(Event)
        .join(Notice, Notice.id == Event.notice_id)
        .join(SourceState, SourceState.id == Notice.source_id)
        .where(RELEVANT)
    )


# The first notice of the event's procedure, when the event is on a notice merged into it.
_PROCEDURE = aliased(Notice)


def _details(ids: Select[Any]) -> Select[Any]:
    """What rendering needs of the events `ids` selects, oldest first. The ids are picked (and
    limited) first, so the JSON is read for those rows only, whatever plan the database chooses."""
    page = ids.subquery("page")
    return (
        select(
            Event.id,
            Event.key,
            Event.type,
            Event.created_at,
            Event.changes,
            Event.site,
            SourceState.name,
            Event.detail,
            Notice.also,
            Event.notice_id,
            func.coalesce(
                _PROCEDURE.compiled["title"].as_string(), Notice.compiled["title"].as_string()
            ),
            *(_snapshot_key(key) for key in SNAPSHOT_KEYS),
        )
        .select_from(page)
        .join(Event, Event.id == page.c.id)
        .join(Notice, Notice.id == Event.notice_id)
        .join(SourceState, SourceState.id == Notice.source_id)
        .outerjoin(_PROCEDURE, _PROCEDURE.id == Notice.parent_id)
        .outerjoin(
            NoticeVersion,
            and_(
                NoticeVersion.notice_id == Event.notice_id, NoticeVersion.version == Event.version
            ),
        )
        .order_by(Event.created_at, Event.id)
    )


def _filter(query: Select[Any], spec: FeedSpec) -> Select[Any]:
    if spec.dimension == "site":
        return query.where(Event.site == spec.value)
    if spec.dimension == "source":
        return query.where(SourceState.name == spec.value)
    if spec.dimension == "type":
        return query.where(Event.type == spec.value)
    return query


def _row(values: Sequence[Any]) -> EventRow:
    event_id, key, kind, created_at, changes, site, source, detail, also, notice_id, *snap = values
    title, *snap = snap
    return EventRow(
        id=event_id,
        key=key,
        type=kind,
        created_at=created_at,
        changes=changes,
        site=site,
        source=source,
        detail=detail,
        also=also,
        snapshot=dict(zip(SNAPSHOT_KEYS, snap, strict=True)),
        notice_id=notice_id,
        procedure_title=title,
    )


def top_event_id(session: Session) -> int:
    """The highest event id now: a build reads only events up to it, so its counts hold."""
    return int(session.scalar(select(func.max(Event.id))) or 0)


def feed_counts(session: Session, upto_id: int) -> dict[FeedSpec, int]:
    """How many events each feed holds (feeds without events are absent), in one query."""
    query = (
        select(Event.site, SourceState.name, Event.type, func.count(Event.id))
        .select_from(Event)
        .join(Notice, Notice.id == Event.notice_id)
        .join(SourceState, SourceState.id == Notice.source_id)
        .where(RELEVANT, Event.id <= upto_id)
        .group_by(Event.site, SourceState.name, Event.type)
    )
    counts: dict[FeedSpec, int] = {}
    for site, source, kind, count in session.execute(query):
        specs = [ALL, FeedSpec("source", source), FeedSpec("type", kind)]
        if site:
            specs.append(FeedSpec("site", site))
        for spec in specs:
            counts[spec] = counts.get(spec, 0) + int(count)
    return counts


class EventRef(NamedTuple):
    """Where an event goes, without what it says: enough to place it in its feeds' pages."""

    id: int
    type: str
    site: str | None
    source: str
    also: int  # how many other portals publish the same tender (the entry lists them)


def stream_refs(session: Session, upto_id: int, batch: int = BATCH) -> Iterator[EventRef]:
    """Every event up to `upto_id`, oldest first, in batches read along the `(created_at, id)`
    index (keyset pagination: each batch starts after the last row of the previous one)."""
    query = (
        _ids()
        .add_columns(Event.type, Event.site, SourceState.name, Notice.also)
        .where(Event.id <= upto_id)
        .order_by(Event.created_at, Event.id)
        .limit(batch)
    )
    page = query
    while True:
        refs = [
            EventRef(event_id, kind, site, source, len(also or []))
            for event_id, kind, site, source, also in session.execute(page)
        ]
        yield from refs
        if len(refs) < batch:
            return
        last = refs[-1].id
        when = session.execute(select(Event.created_at).where(Event.id == last)).scalar_one()
        page = query.where(
            or_(Event.created_at > when, and_(Event.created_at == when, Event.id > last))
        )


def event_rows(session: Session, ids: Sequence[int]) -> list[EventRow]:
    """The events `ids` with what rendering them needs, oldest first, in one query."""
    return [_row(r) for r in session.execute(_details(select(Event.id).where(Event.id.in_(ids))))]


def count_feed(session: Session, spec: FeedSpec) -> int:
    """How many events one feed holds."""
    query = _filter(_ids(), spec).with_only_columns(func.count(Event.id))
    return int(session.scalar(query) or 0)


def feed_slice(session: Session, spec: FeedSpec, offset: int, limit: int) -> list[EventRow]:
    """Events `offset`…`offset + limit - 1` of one feed in oldest-first order, newest first."""
    ids = _filter(_ids(), spec).order_by(Event.created_at, Event.id).offset(offset).limit(limit)
    rows = [_row(r) for r in session.execute(_details(ids))]
    rows.reverse()
    return rows


def known_feed(session: Session, spec: FeedSpec, extra_sites: frozenset[str]) -> bool:
    """Whether a feed exists: any event type, a configured source, a site of the gazetteer or with
    events; an unknown one is a 404, not an empty feed."""
    if spec.dimension == "all":
        return True
    if spec.dimension == "type":
        return spec.value in EVENT_TYPES
    if spec.dimension == "source":
        found = session.scalar(select(SourceState.id).where(SourceState.name == spec.value))
        return found is not None
    if spec.value in extra_sites:
        return True
    return session.scalar(select(Event.id).where(Event.site == spec.value).limit(1)) is not None


def source_names(session: Session) -> list[str]:
    """Every source that has polled at least once."""
    return list(session.scalars(select(SourceState.name).order_by(SourceState.name)))


# Notices whose deadline no longer invites tenders, even if it lies in the future.
_CLOSED_TYPES = ("award", "cancellation")
_CLOSING_EVENTS = frozenset({"awarded", "cancelled"})


def open_deadlines(session: Session, now: dt.datetime, batch: int = 500) -> Iterator[Deadline]:
    """Every open procedure whose deadline is after `now`, soonest first, with its moves.

    A procedure is its first notice (`parent_id` unset; corrigenda, awards and the same tender on
    other portals move the first notice's deadline instead of adding their own); it is open until
    awarded or cancelled. A move is an event whose changes include the deadline: their count is the
    calendar SEQUENCE and the last one's time LAST-MODIFIED (the first event's time when it never
    moved). Histories are read for a batch of notices in one query.
    """
    query = (
        select(
            Notice.id,
            SourceState.name,
            Notice.native_id,
            func.coalesce(Notice.compiled["title"].as_string(), Notice.title),
            Notice.buyer,
            Notice.url,
            Notice.deadline,
            Notice.site,
            Notice.first_seen_at,
            Notice.deadline_local,
            Notice.deadline_zone,
        )
        .join(SourceState, SourceState.id == Notice.source_id)
        .where(
            RELEVANT,
            Notice.deadline > now,
            Notice.notice_type.not_in(_CLOSED_TYPES),
            Notice.parent_id.is_(None),
        )
        .order_by(Notice.deadline, Notice.id)
    )
    rows = session.execute(query).all()
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        history: dict[int, list[tuple[dt.datetime, list[dict[str, Any]]]]] = {}
        closed: set[int] = set()
        events = (
            select(Event.notice_id, Event.created_at, Event.changes, Event.type)
            .where(Event.notice_id.in_([r[0] for r in chunk]))
            .order_by(Event.created_at, Event.id)
        )
        for notice_id, created, changes, kind in session.execute(events):
            history.setdefault(notice_id, []).append((created, changes or []))
            if kind in _CLOSING_EVENTS:
                closed.add(notice_id)
        for row in chunk:
            notice_id, source, native_id, title, buyer, url, deadline, site, first_seen = row[:9]
            if notice_id in closed:
                continue
            past = history.get(notice_id, [])
            moves = [(when, c) for when, changes in past for c in changes if _is_deadline(c)]
            if moves:
                modified, previous = moves[-1][0], moves[-1][1].get("old")
            else:
                modified, previous = (past[0][0] if past else first_seen), None
            yield Deadline(
                source=source,
                native_id=native_id,
                title=title,
                buyer=buyer,
                url=url,
                deadline=deadline,
                site=site,
                moves=len(moves),
                last_modified=modified,
                previous=previous,
                local=row.deadline_local,
                zone=row.deadline_zone,
            )


def _is_deadline(change: Any) -> bool:
    return isinstance(change, dict) and change.get("field") == "deadline"


def last_closed_deadline(session: Session, now: dt.datetime) -> dt.datetime | None:
    """When the calendar last lost an event because its deadline passed."""
    query = select(func.max(Notice.deadline)).where(
        Notice.relevant.is_(True), Notice.deadline <= now
    )
    moment: dt.datetime | None = session.scalar(query)
    return moment
