"""Fixed-window counters in the database, shared by every instance and kept across restarts.

A counter is a row of `counters` (`key`, `window_start`, `hits`). `hit()` adds one to the current
window of a key and returns the count so far, with one atomic `UPDATE … SET hits = hits + 1` (a
row lock on PostgreSQL, the write lock on SQLite), so two instances behind one load balancer
share one limit. Windows are aligned on the Unix epoch (an hour window starts at :00).

Keys never hold an address in clear: `key(kind, value)` hashes the value (the list of people
who follow detention contracts is sensitive; see `watcher.notify.subscribers`). Rows of windows
older than two days are deleted as new ones are written. `total()` counters (refused fetches)
use a window that never ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from watcher.db.models import Counter

if TYPE_CHECKING:
    from watcher.sources.netguard import NetGuard

log = logging.getLogger(__name__)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FOREVER = dt.timedelta(days=365 * 1000)
KEEP = dt.timedelta(days=2)


def key(kind: str, value: str) -> str:
    """`kind:<hash of value>`: a counter key that does not reveal `value`."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{kind}:{digest}"


def window_start(now: dt.datetime, window: dt.timedelta) -> dt.datetime:
    """The start of the fixed window of length `window` that holds `now`."""
    if window >= FOREVER:
        return EPOCH
    return EPOCH + ((now - EPOCH) // window) * window


def hit(session: Session, name: str, window: dt.timedelta, now: dt.datetime) -> int:
    """Count one hit on `name` in its current window; the hits of that window, this one included."""
    start = window_start(now, window)
    for _ in range(3):
        bumped = session.execute(
            update(Counter)
            .where(Counter.key == name, Counter.window_start == start)
            .values(hits=Counter.hits + 1)
            .execution_options(synchronize_session=False)
        )
        if bumped.rowcount == 0:  # type: ignore[attr-defined]
            bumped = session.execute(
                update(Counter)
                .where(Counter.key == name, Counter.window_start != start)
                .values(window_start=start, hits=1)
                .execution_options(synchronize_session=False)
            )
        if bumped.rowcount == 0:  # type: ignore[attr-defined]
            try:
                with session.begin_nested():
                    session.execute(insert(Counter).values(key=name, window_start=start, hits=1))
            except IntegrityError:  # another instance created it just now: count on it
                continue
            if window < FOREVER:
                session.execute(
                    delete(Counter).where(
                        Counter.window_start < now - KEEP, Counter.window_start != EPOCH
                    )
                )
        return count(session, name, window, now)
    return count(session, name, window, now)


def hit_sliding(session: Session, name: str, window: dt.timedelta, now: dt.datetime) -> int:
    """Count one hit on `name`; the hits of the last `window` as a sliding window estimates
    them: this window's, plus the previous window's weighted by how much of it still lies within
    `window` of now. Fixed windows let 10 posts at 10:59:59 and 10 at 11:00:00 through (issue 26);
    here the second ten count the first."""
    index = (now - EPOCH) // window
    current = hit(session, f"{name}:{index % 2}", window, now)
    start = window_start(now, window)
    previous = session.scalar(
        select(Counter.hits).where(
            Counter.key == f"{name}:{(index - 1) % 2}", Counter.window_start == start - window
        )
    )
    left = 1 - (now - start) / window
    return current + int((previous or 0) * left + 0.999)


def count(session: Session, name: str, window: dt.timedelta, now: dt.datetime) -> int:
    """The hits of `name` in its current window (0 once the window is over)."""
    row = session.execute(
        select(Counter.window_start, Counter.hits).where(Counter.key == name)
    ).first()
    if row is None or row[0] != window_start(now, window):
        return 0
    return int(row[1])


def totals(session: Session, prefix: str) -> dict[str, int]:
    """Every never-ending counter whose key starts with `prefix`, by the rest of its key."""
    rows = session.execute(
        select(Counter.key, Counter.hits).where(
            Counter.key.startswith(prefix, autoescape=True), Counter.window_start == EPOCH
        )
    )
    return {str(k)[len(prefix) :]: int(n) for k, n in rows}


# The counters of URLs refused by `watcher.sources.netguard`, by reason (shown on `/metrics`).
REFUSED_PREFIX = "fetch_refused:"


def record_refusals(sessions: sessionmaker[Session], guard: NetGuard, now: dt.datetime) -> None:
    """Count a guard's refusals in the database (for `/metrics`); never raises."""
    from watcher.db.session import session_scope  # noqa: PLC0415

    if not guard.refused:
        return
    try:
        with session_scope(sessions) as session:
            for reason in guard.refused:
                hit(session, REFUSED_PREFIX + reason, FOREVER, now)
    except Exception:
        log.warning("refused fetches not counted", exc_info=True)
    guard.refused.clear()
