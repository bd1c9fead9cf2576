"""The delivery ledger: which (event, subscriber) pairs are due, and what happened to each.

One `Delivery` row per pair, UNIQUE(event_id, subscriber_id): an alert is queued once, whatever
the number of pollers or notifiers running. A row moves

    pending ──claim──▶ sending ──sent──▶ sent
       ▲                  │
       └──failure─────────┤ (attempts + 1, next_attempt_at = now + backoff)
                          └──refused for good / outcome unknown──▶ failed

Each step is its own committed transaction: the row is marked `sending` *before* the message is
handed to the server and `sent` right after.

**At-most-once across a crash.** If the process dies between `sending` and `sent` (`kill -9`, a
power cut), nobody knows whether the server took the message. Such a row, once older than
`STALE_AFTER`, is marked `failed` ("interrupted") and is *never* sent again: the issue asks that a
crash never sends the same alert twice, so a rare lost alert is preferred over a duplicate. Until
then it is *in flight* (another notifier may still be sending it), and `watcher notify` says so
rather than promising a retry (issue 18); `watcher notify --interrupted` lists the interrupted
alerts, with their event and masked subscriber, for the maintainers to check by hand.

Everything else is at-least-once with retries: a server that is down, slow or answers 4xx leaves
the alert pending, retried with exponential backoff (1 min, 2, 4… capped at
6 h) for as long as it takes; only a permanent 5xx refusal gives up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from watcher.core.query import parse
from watcher.db.models import Delivery, Event, Notice, SourceState, Subscriber
from watcher.db.search import procedures
from watcher.db.session import session_scope

STALE_AFTER = dt.timedelta(minutes=15)
INTERRUPTED = "interrupted while sending"  # how `last_error` of an interrupted alert starts
BACKOFF_FIRST = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=6)
# Daily digests go out with the first delivery round after this hour, Paris time.
DIGEST_HOUR = 7
PARIS = ZoneInfo("Europe/Paris")


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed try: 1 min, 2, 4, … at most 6 h."""
    delay: dt.timedelta = BACKOFF_FIRST * 2 ** min(max(attempts - 1, 0), 20)
    return min(delay, BACKOFF_CAP)


def digest_due(last: dt.datetime, now: dt.datetime) -> bool:
    """Whether a daily digest last sent (or subscribed) at `last` is due again at `now`."""
    local = now.astimezone(PARIS)
    slot = local.replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if local < slot:
        slot -= dt.timedelta(days=1)
    return last < slot


@dataclass(frozen=True)
class Batch:
    """The alerts of one message: one event, or a subscriber's whole daily digest."""

    subscriber_id: int
    delivery_ids: tuple[int, ...]
    event_ids: tuple[int, ...]
    digest: bool = False
    # The alerts beyond a round's cap for one subscriber (issue 26): one message that says how
    # many and links the list, instead of one each.
    overflow: bool = False


# Event types a subscriber gets by mail only by naming them in their event filter (`--event`):
# reminders that a remedy window closes in 7 days (issue 28, `watcher.pipeline.remedies`), and
# questions raised, which most awards of the DECP raise (an award with no call seen, missing
# fields): a subscriber who asked for everything gets one mail per award, not two. Both stay
# in the feeds.
OPT_IN: tuple[str, ...] = ("remedy_closing", "question_raised")


def _matching_events(sub: Subscriber, dialect: str) -> Any:
    """Events of relevant notices after the subscriber's start that pass its filters."""
    query = (
        select(Event.id)
        .join(Event.notice)
        .join(Notice.source)
        .where(
            Event.id > sub.since_event_id,
            Notice.relevant.is_(True),
            ~exists().where(Delivery.event_id == Event.id, Delivery.subscriber_id == sub.id),
        )
    )
    if sub.sites:
        query = query.where(Event.site.in_(sub.sites))
    if sub.sources:
        query = query.where(SourceState.name.in_(sub.sources))
    if sub.companies:
        from watcher.companies.store import company_procedures  # noqa: PLC0415

        query = query.where(Event.notice_id.in_(company_procedures(sub.companies)))
    if sub.query:
        query = query.where(Event.notice_id.in_(procedures(dialect, parse(sub.query))))
    if sub.events:
        # "new" was every first announcement before phases: it still brings the call for tenders
        # that follows a prior information notice.
        kinds = [*sub.events, *(["tender_published"] if "new" in sub.events else [])]
        query = query.where(Event.type.in_(kinds))
    else:
        query = query.where(Event.type.not_in(OPT_IN))
    return query.order_by(Event.id)


def enqueue(session: Session, now: dt.datetime) -> int:
    """Put every new (event, confirmed subscriber) pair in the ledger as pending; how many."""
    added = 0
    subscribers = session.scalars(select(Subscriber).where(Subscriber.confirmed.is_(True))).all()
    dialect = session.get_bind().dialect.name
    for sub in subscribers:
        event_ids = session.scalars(_matching_events(sub, dialect)).all()
        if event_ids:
            rows = [
                {
                    "event_id": event_id,
                    "subscriber_id": sub.id,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for event_id in event_ids
            ]
            added += _insert_ignoring_duplicates(session, rows)
    return added


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    """INSERT … ON CONFLICT DO NOTHING: another notifier may have queued the same pair."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        module = postgresql if dialect == "postgresql" else sqlite
        stmt = (
            module.insert(Delivery)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["event_id", "subscriber_id"])
        )
        return max(cast(CursorResult[Any], session.execute(stmt)).rowcount, 0)
    added = 0
    for row in rows:  # other databases: one savepoint per row
        try:
            with session.begin_nested():
                session.add(Delivery(**row))
            added += 1
        except IntegrityError:
            continue
    return added


def recover_interrupted(session: Session, now: dt.datetime) -> int:
    """Mark rows left in `sending` by a crash as failed, never to be re-sent; how many."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.status == "sending", Delivery.claimed_at < now - STALE_AFTER)
        .values(
            status="failed",
            last_error=f"{INTERRUPTED}; not re-sent (at most once: it may or may not have arrived)",
        )
    )
    return max(cast(CursorResult[Any], result).rowcount, 0)


def due(
    session: Session, now: dt.datetime, *, force: bool = False, per_round: int | None = None
) -> list[Batch]:
    """What to send now: one batch per alert, one per digest subscriber whose digest is due.

    `force` ignores the retry backoff (`watcher notify` means "now"), not the digest's rhythm.
    With `per_round`, a subscriber gets at most that many alerts one by one in this round; the
    rest go in one `overflow` batch (one message that says how many).
    """
    query = (
        select(Delivery.id, Delivery.event_id, Subscriber)
        .join(Delivery.subscriber)
        .where(Delivery.status == "pending", Subscriber.confirmed.is_(True))
        .order_by(Delivery.subscriber_id, Delivery.event_id)
    )
    if not force:
        query = query.where(Delivery.next_attempt_at <= now)
    batches: list[Batch] = []
    digests: dict[int, list[tuple[int, int]]] = {}
    beyond: dict[int, list[tuple[int, int]]] = {}
    alone: dict[int, int] = {}
    for delivery_id, event_id, sub in session.execute(query).all():
        if sub.digest:
            digests.setdefault(sub.id, []).append((delivery_id, event_id))
        elif per_round is not None and alone.get(sub.id, 0) >= per_round:
            beyond.setdefault(sub.id, []).append((delivery_id, event_id))
        else:
            alone[sub.id] = alone.get(sub.id, 0) + 1
            batches.append(Batch(sub.id, (delivery_id,), (event_id,)))
    for sub_id, pairs in beyond.items():
        ids, events = zip(*pairs, strict=True)
        batches.append(Batch(sub_id, tuple(ids), tuple(events), digest=True, overflow=True))
    for sub_id, pairs in digests.items():
        sub = session.get_one(Subscriber, sub_id)
        if digest_due(sub.last_digest_at or sub.confirmed_at or sub.created_at, now):
            ids, events = zip(*pairs, strict=True)
            batches.append(Batch(sub_id, tuple(ids), tuple(events), digest=True))
    return batches


def claim(sessions: sessionmaker[Session], batch: Batch, now: dt.datetime) -> bool:
    """Mark the batch `sending` and commit; False when another notifier got there first."""
    with session_scope(sessions) as session:
        result = session.execute(
            update(Delivery)
            .where(Delivery.id.in_(batch.delivery_ids), Delivery.status == "pending")
            .values(status="sending", claimed_at=now, attempts=Delivery.attempts + 1)
        )
        if cast(CursorResult[Any], result).rowcount != len(batch.delivery_ids):
            session.rollback()
            return False
    return True


def mark_sent(sessions: sessionmaker[Session], batch: Batch, now: dt.datetime) -> None:
    """Record that the server took the message (and when the digest went out)."""
    with session_scope(sessions) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(batch.delivery_ids))
            .values(status="sent", sent_at=now, last_error=None)
        )
        if batch.digest:
            session.get_one(Subscriber, batch.subscriber_id).last_digest_at = now


def mark_retry(sessions: sessionmaker[Session], batch: Batch, now: dt.datetime, error: str) -> None:
    """Back to pending, to be tried again after the backoff for its number of attempts."""
    with session_scope(sessions) as session:
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(batch.delivery_ids)))
        for row in rows:
            row.status = "pending"
            row.next_attempt_at = now + backoff(row.attempts)
            row.last_error = error[:1000]


def mark_failed(sessions: sessionmaker[Session], ids: Sequence[int], error: str) -> None:
    """Give up on these alerts for good, with the reason (already scrubbed of addresses)."""
    with session_scope(sessions) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(status="failed", last_error=error[:1000])
        )


def waiting(session: Session, *, digest: bool = False) -> int:
    """Alerts still pending after a round: of immediate subscribers (they will be tried again),
    or with `digest`, of daily-digest subscribers (they wait for the next digest)."""
    query = (
        select(func.count(Delivery.id))
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.status == "pending")
        .where(Subscriber.digest.is_not(None) if digest else Subscriber.digest.is_(None))
    )
    return int(session.scalar(query) or 0)


def in_flight(session: Session) -> int:
    """Alerts in `sending`: being sent by another notifier, or left by one that was killed (they
    are then marked interrupted after `STALE_AFTER`, never re-sent)."""
    query = select(func.count(Delivery.id)).where(Delivery.status == "sending")
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class Interrupted:
    """An alert a crash interrupted while it was being sent: it may or may not have arrived."""

    delivery_id: int
    event_key: str
    notice_title: str
    subscriber_id: int
    address: str
    claimed_at: dt.datetime | None


def interrupted(session: Session) -> list[Interrupted]:
    """Every alert marked interrupted, oldest first (for the maintainers to check by hand)."""
    query = (
        select(Delivery, Event.key, Notice.title, Subscriber.address)
        .join(Event, Event.id == Delivery.event_id)
        .join(Notice, Notice.id == Event.notice_id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.status == "failed", Delivery.last_error.startswith(INTERRUPTED))
        .order_by(Delivery.claimed_at, Delivery.id)
    )
    return [
        Interrupted(row.id, key, title, row.subscriber_id, address, row.claimed_at)
        for row, key, title, address in session.execute(query)
    ]


def status_counts(session: Session) -> dict[str, int]:
    """How many ledger rows are in each status."""
    rows = session.execute(
        select(Delivery.status, func.count(Delivery.id)).group_by(Delivery.status)
    )
    return {status: int(count) for status, count in rows.all()}
