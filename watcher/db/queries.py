"""2.0-style queries the publishers and the web site read through."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from watcher.db.models import Event, Notice, SourceState


def latest_events(
    session: Session,
    *,
    limit: int = 200,
    site: str | None = None,
    source: str | None = None,
    kind: str | None = None,
    before_id: int | None = None,
) -> Sequence[Event]:
    """The newest events of relevant notices, newest first, with their notice and source loaded."""
    query = (
        select(Event)
        .join(Event.notice)
        .where(Notice.relevant.is_(True))
        .options(joinedload(Event.notice).joinedload(Notice.source))
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(limit)
    )
    if site is not None:
        query = query.where(Event.site == site)
    if source is not None:
        query = query.join(Notice.source).where(SourceState.name == source)
    if kind is not None:
        query = query.where(Event.type == kind)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    return session.scalars(query).unique().all()


def feed_state(session: Session) -> tuple[int, int]:
    """(number of events, highest event id): changes whenever a feed would change."""
    count, top = session.execute(select(func.count(Event.id), func.max(Event.id))).one()
    return int(count or 0), int(top or 0)


def source_states(session: Session) -> Sequence[SourceState]:
    """Every source's poll state, by name."""
    return session.scalars(select(SourceState).order_by(SourceState.name)).all()
