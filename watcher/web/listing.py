"""What the pages and the JSON API read: filtered, paginated lists, a procedure's timeline,
per-site and per-source counts. 2.0-style queries that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased, contains_eager, defer, joinedload, selectinload

from watcher.core.diff import diff_snapshots
from watcher.core.places import normalise
from watcher.core.questions import CODES
from watcher.db.models import Event, Notice, NoticeVersion, PollRun, SourceState
from watcher.pipeline.breaker import resting_until
from watcher.publish.entries import TITLE_PREFIX
from watcher.records import FieldChange
from watcher.sources.base import SourceConfig
from watcher.web.ids import db_id

EVENT_TYPES: tuple[str, ...] = tuple(TITLE_PREFIX["fr"])
MAX_QUERY = 200
T = TypeVar("T")


class BadRequest(ValueError):
    """A filter or page parameter that makes no sense; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Filters:
    """What a reader narrowed the list to; empty means everything."""

    site: str | None = None
    source: str | None = None
    type: str | None = None
    q: str | None = None
    # A département code: notices whose place list names it, first or not (issue 13).
    department: str | None = None
    # A question code (`watcher.core.questions.CODES`): notices of procedures that raise it.
    question: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Filters:
        """Filters from query parameters; blank ones are ignored, an unknown event type refused."""

        def get(name: str) -> str | None:
            value = (params.get(name) or "").strip()
            return value[:MAX_QUERY] or None

        kind = get("type")
        if kind is not None and kind not in EVENT_TYPES:
            raise BadRequest(f"type: unknown event type {kind!r}; known: {', '.join(EVENT_TYPES)}")
        question = get("question")
        if question is not None and question not in CODES:
            raise BadRequest(f"question: unknown question {question!r}; known: {', '.join(CODES)}")
        department = get("department")  # `6` reads as `06`; a code of no département matches none
        return cls(
            site=get("site"),
            source=get("source"),
            type=kind,
            q=get("q"),
            department=(normalise(department) or department) if department else None,
            question=question,
        )

    def params(self) -> dict[str, str]:
        """The non-empty filters as query parameters."""
        pairs = {"site": self.site, "source": self.source, "type": self.type, "q": self.q}
        pairs["department"] = self.department
        pairs["question"] = self.question
        return {k: v for k, v in pairs.items() if v}


# Numbered pages past this are refused (400): an OFFSET walks every row before it (`page=700`
# cost seconds at 60,000 notices, issue 26); further on, the `after` cursor of the `next` link
# (keyset paging) costs the same at any depth.
MAX_PAGE = 200


def _digits(value: str | None) -> str | None:
    """`value` when it is short enough to be a page number; a number too long reads as too big."""
    if value is not None and len(value.strip()) > 12:
        return str(MAX_PAGE + 1)
    return value


@dataclass(frozen=True, slots=True)
class Paging:
    """Which slice of a list: 1-based page number and size."""

    page: int = 1
    per_page: int = 30
    # Keyset paging: the id of the last item of the page before (the `next` link's `after`).
    after: int | None = None

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], *, default: int = 30, most: int = 100
    ) -> Paging:
        """`page` and `per_page` from query parameters, within bounds."""
        try:
            # Thousands of digits would cost seconds to read (and `int` refuses them): too big.
            page = int(_digits(params.get("page")) or 1)
            per_page = int(_digits(params.get("per_page")) or default)
        except ValueError:
            raise BadRequest("page and per_page must be whole numbers") from None
        if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= most:
            raise BadRequest(
                f"page must be between 1 and {MAX_PAGE} and per_page between 1 and {most}; "
                "further on, follow the `next` link (its `after` cursor)"
            )
        after = params.get("after")
        if after is None or after == "":
            return cls(page, per_page)
        cursor = db_id(after.strip())
        if not cursor:
            raise BadRequest("after must be the id of an item (from the `next` link)")
        return cls(1, per_page, cursor)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, with the total to show how many pages there are."""

    items: Sequence[T]
    total: int
    paging: Paging

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // self.paging.per_page))

    @property
    def has_next(self) -> bool:
        """Whether a later page exists."""
        return self.paging.page < self.pages


def search_clause(q: str, dialect: str) -> ColumnElement[bool]:
    """Every word of `q` starts a word of the notice's title, buyer, description, lots or
    winners (case and accents ignored), read from the full-text index (`watcher.db.search`)."""
    from watcher.db.search import notices_saying  # noqa: PLC0415

    found = notices_saying(dialect, q)
    return Notice.id.in_(found) if found is not None else true()


def department_clause(code: str) -> ColumnElement[bool]:
    """Notices that concern département `code`: the first one, or any of their list (a JSON
    list, searched as its text, the same on SQLite and PostgreSQL)."""
    return or_(
        Notice.department == code,
        cast(Notice.departments, String).like(f'%"{code}"%'),
    )


def question_clause(code: str) -> ColumnElement[bool]:
    """Notices of the procedures whose compiled record raises question `code` (its
    `question_codes`, read as text the same way on SQLite and PostgreSQL)."""
    root = aliased(Notice)
    raising = select(root.id).where(
        root.parent_id.is_(None), root.compiled["question_codes"].as_string().contains(f" {code} ")
    )
    return func.coalesce(Notice.parent_id, Notice.id).in_(raising)


def _filtered(query: Select[Any], filters: Filters, site_column: Any, dialect: str) -> Select[Any]:
    if filters.question:
        query = query.where(question_clause(filters.question))
    if filters.department:
        query = query.where(department_clause(filters.department))
    if filters.site:
        query = query.where(site_column == filters.site)
    if filters.source:
        query = query.where(SourceState.name == filters.source)
    if filters.q:
        query = query.where(search_clause(filters.q, dialect))
    return query


def _page(
    session: Session,
    query: Select[Any],
    paging: Paging,
    when: Any,
    ident: Any,
    counted: Select[Any] | None = None,
) -> tuple[Sequence[Any], int]:
    """One page of `query` (ordered by `when` then `ident`, newest first) and the total (the
    rows of `counted`, when given: the same rows, found a cheaper way). With `paging.after`,
    the page starts after that item (keyset: no OFFSET, the same cost at any depth)."""
    counted = query.order_by(None) if counted is None else counted
    total = session.scalar(select(func.count()).select_from(counted.subquery()))
    if paging.after is not None:
        moment = session.scalar(select(when).where(ident == paging.after))
        if moment is None:  # an unknown cursor: nothing after it
            return [], int(total or 0)
        query = query.where(or_(when < moment, and_(when == moment, ident < paging.after)))
        return session.scalars(query.limit(paging.per_page)).unique().all(), int(total or 0)
    offset = (paging.page - 1) * paging.per_page
    items = session.scalars(query.limit(paging.per_page).offset(offset)).unique().all()
    return items, int(total or 0)


def list_events(session: Session, filters: Filters, paging: Paging) -> Page[Event]:
    """Events of relevant notices, newest first, with their notice and source loaded.

    The notice conditions are a correlated EXISTS rather than a join, so that the database walks
    the events' (created_at, id) index and stops after one page instead of sorting every event
    (17 ms instead of 170 ms at 100,000 notices on SQLite).
    """
    notice = select(Notice.id).where(Notice.relevant.is_(True))
    if filters.source:
        notice = notice.join(Notice.source).where(SourceState.name == filters.source)
    if filters.q:
        notice = notice.where(search_clause(filters.q, session.get_bind().dialect.name))
    if filters.department:
        notice = notice.where(department_clause(filters.department))
    if filters.question:
        notice = notice.where(question_clause(filters.question))
    query = (
        select(Event)
        .where(notice.where(Notice.id == Event.notice_id).exists())
        .options(selectinload(Event.notice).selectinload(Notice.source))
        .order_by(Event.created_at.desc(), Event.id.desc())
    )
    # Counted with IN, not EXISTS: one pass over the relevant notices' index instead of a
    # look-up of each event's notice row (90 ms -> 30 ms at 100,000 notices on SQLite).
    counted = select(Event.id).where(Event.notice_id.in_(notice))
    if filters.site:
        query = query.where(Event.site == filters.site)
        counted = counted.where(Event.site == filters.site)
    if filters.type:
        query = query.where(Event.type == filters.type)
        counted = counted.where(Event.type == filters.type)
    items, total = _page(session, query, paging, Event.created_at, Event.id, counted)
    return Page(items, total, paging)


def list_notices(
    session: Session,
    filters: Filters,
    paging: Paging,
    *,
    relevant: bool | None = True,
    procedures: bool = False,
) -> Page[Notice]:
    """Notices (relevant ones unless asked), most recently first seen first, source loaded;
    with `procedures`, the first notice of each procedure only (one row per procedure, read
    with its compiled record)."""
    query = (
        select(Notice)
        .join(Notice.source)
        .options(contains_eager(Notice.source))
        .order_by(Notice.first_seen_at.desc(), Notice.id.desc())
    )
    if procedures:
        query = query.where(Notice.parent_id.is_(None))
    if relevant is not None:
        query = query.where(Notice.relevant.is_(relevant))
    query = _filtered(query, filters, Notice.site, session.get_bind().dialect.name)
    items, total = _page(session, query, paging, Notice.first_seen_at, Notice.id)
    return Page(items, total, paging)


@dataclass
class TimelineItem:
    """One version of one notice of the procedure, what changed since the version before, and
    the events it caused."""

    notice: Notice
    version: NoticeVersion
    changes: list[FieldChange]
    events: list[Event] = field(default_factory=list)
    # What each event says that the timeline has not said yet (by event id), and whether this
    # version's own changes were all said above already.
    told: dict[int, list[Any]] = field(default_factory=dict)
    said_above: bool = False


def procedure_notices(session: Session, notice: Notice, most: int = 50) -> list[Notice]:
    """The notice and the other notices of its procedure, oldest first: the notices linked to the
    same first notice (corrigenda, awards, the same tender on other portals) and those sharing its
    `procedure_id`."""
    root_id = notice.parent_id or notice.id
    same = [Notice.id == root_id, Notice.parent_id == root_id]
    if notice.procedure_id:
        same.append(Notice.procedure_id == notice.procedure_id)
    others = session.scalars(
        select(Notice)
        .options(joinedload(Notice.source))
        .where(or_(*same), Notice.id != notice.id)
        .order_by(Notice.first_seen_at, Notice.id)
        .limit(most)
    ).all()
    return [notice, *others]


def timeline(session: Session, notices: Sequence[Notice]) -> list[TimelineItem]:
    """Every version of `notices`, oldest first, each with its diff to the one before."""
    ids = [n.id for n in notices]
    by_id = {n.id: n for n in notices}
    versions = session.scalars(
        select(NoticeVersion)
        .options(defer(NoticeVersion.raw))
        .where(NoticeVersion.notice_id.in_(ids))
        .order_by(NoticeVersion.notice_id, NoticeVersion.version)
    ).all()
    events: dict[tuple[int, int], list[Event]] = {}
    # An event made by another notice of the procedure (a corrigendum, an award) is shown with
    # the version of that notice.
    by_ref = {(n.source.name, n.native_id): n.id for n in notices}
    for event in session.scalars(
        select(Event).where(Event.notice_id.in_(ids)).order_by(Event.created_at, Event.id)
    ):
        detail = event.detail if isinstance(event.detail, dict) else {}
        made_by = by_ref.get((str(detail.get("source")), str(detail.get("ref"))), event.notice_id)
        events.setdefault((made_by, event.version), []).append(event)
    items: list[TimelineItem] = []
    previous: dict[int, dict[str, Any]] = {}
    for version in versions:
        changes = diff_snapshots(previous.get(version.notice_id), version.snapshot)
        previous[version.notice_id] = version.snapshot
        items.append(
            TimelineItem(
                notice=by_id[version.notice_id],
                version=version,
                changes=changes,
                events=events.get((version.notice_id, version.version), []),
            )
        )
    items.sort(key=lambda i: (i.version.fetched_at, i.notice.id, i.version.version))
    return told_once(items)


def told_once(items: Sequence[TimelineItem]) -> list[TimelineItem]:
    """The timeline with each change told once: a field moving from one value to another, told
    by two portals' notices or by an event and its version, is shown the first time only."""
    seen: set[tuple[str, str | None, str | None]] = set()

    def fresh(changes: Sequence[Any]) -> list[Any]:
        kept = []
        for c in changes:
            said = c if isinstance(c, dict) else {k: getattr(c, k) for k in ("field", "old", "new")}
            key = (str(said.get("field")), said.get("old"), said.get("new"))
            if key not in seen:
                seen.add(key)
                kept.append(c)
        return kept

    out: list[TimelineItem] = []
    for item in items:
        told = {e.id: fresh(e.changes or []) for e in item.events}
        # A first version's changes are not shown ("first version"), so they tell nothing.
        own = fresh(item.changes) if item.version.version > 1 else item.changes
        out.append(replace(item, changes=own, told=told, said_above=bool(item.changes) and not own))
    return out


@dataclass(frozen=True, slots=True)
class SiteCount:
    """How many relevant notices a site has, and when its last event was."""

    notices: int = 0
    last_event: dt.datetime | None = None


def site_counts(session: Session) -> dict[str | None, SiteCount]:
    """Per site (None: relevant notices attached to no site)."""
    notices: dict[str | None, int] = {
        site: int(n)
        for site, n in session.execute(
            select(Notice.site, func.count()).where(Notice.relevant.is_(True)).group_by(Notice.site)
        )
    }
    last: dict[str | None, dt.datetime | None] = {
        site: moment or None
        for site, moment in session.execute(
            select(Event.site, func.max(Event.created_at))
            .join(Event.notice)
            .where(Notice.relevant.is_(True))
            .group_by(Event.site)
        )
    }
    return {
        site: SiteCount(int(notices.get(site) or 0), last.get(site))
        for site in set(notices) | set(last)
    }


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source as its maintainers need to see it."""

    name: str
    kind: str
    state: SourceState | None
    configured: bool
    enabled: bool
    schedule: str | None
    notices: int
    relevant: int
    events: int
    last_seconds: float | None
    rests_until: dt.datetime | None = None  # the breaker's rest after repeated failures

    @property
    def status(self) -> str:
        """`disabled`, `never`, `failing`, `flagged` or `ok`."""
        if self.configured and not self.enabled:
            return "disabled"
        if self.state is None or self.state.last_polled_at is None:
            return "never"
        if self.state.consecutive_failures:
            return "failing"
        if self.state.flagged:
            return "flagged"
        return "ok"


def source_health(session: Session, configs: Sequence[SourceConfig]) -> list[SourceHealth]:
    """Every configured or once-polled source with its poll state and counts, by name."""
    states = {s.name: s for s in session.scalars(select(SourceState))}
    counts = {
        row[0]: (int(row[1]), int(row[2] or 0))
        for row in session.execute(
            select(
                Notice.source_id,
                func.count(),  # count(*): read from the index, never the rows
                func.sum(case((Notice.relevant.is_(True), 1), else_=0)),
            ).group_by(Notice.source_id)
        )
    }
    events: dict[int, int] = {
        source_id: int(n)
        for source_id, n in session.execute(
            select(Notice.source_id, func.count()).join(Event.notice).group_by(Notice.source_id)
        )
    }
    latest = select(func.max(PollRun.id)).group_by(PollRun.source_id).scalar_subquery()
    seconds = {
        run.source_id: run.seconds
        if run.seconds is not None or run.finished_at is None
        else (run.finished_at - run.started_at).total_seconds()
        for run in session.scalars(select(PollRun).where(PollRun.id.in_(latest)))
    }
    by_config = {c.name: c for c in configs}
    now = dt.datetime.now(dt.UTC)
    rows = []
    for name in sorted(set(states) | set(by_config)):
        state, config = states.get(name), by_config.get(name)
        source_id = state.id if state else -1
        total, relevant = counts.get(source_id, (0, 0))
        rows.append(
            SourceHealth(
                name=name,
                kind=config.kind if config else state.kind if state else "?",
                state=state,
                configured=config is not None,
                enabled=config.enabled if config else False,
                schedule=config.schedule if config else None,
                notices=total,
                relevant=relevant,
                events=events.get(source_id, 0),
                last_seconds=seconds.get(source_id),
                rests_until=resting_until(state, now) if state else None,
            )
        )
    return rows
