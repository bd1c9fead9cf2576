"""One number that grows whenever the data a page shows changes: the key of every cache of pages
and searches, so that no cached answer is older than the last commit, whichever process made it
(the scheduler inside `watcher serve`, a cron `watcher run --once`, `watcher rematch`, …).

`watch(engine)` makes every connection of the engine note the tables it writes (INSERT, UPDATE,
DELETE, whatever wrote them: the ORM, Core `executemany`, raw SQL) and, when such a transaction
commits, add one to `generation.value` in that same transaction. Writes that no page shows
(abuse counters) do not count. `current(session)` reads the number: one primary-key look-up. A
database older than migration 0014 has no such row: `current` answers None, and callers do not
cache.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

TABLE = "generation"
# Tables whose writes no page shows: the rate-limit counters (written by refused form posts).
UNSEEN = frozenset({TABLE, "counters", "alembic_version"})
_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
_DIRTY = "watcher.generation.dirty"
_WATCHED: weakref.WeakSet[Engine] = weakref.WeakSet()
_FOUND: weakref.WeakSet[Engine] = weakref.WeakSet()
_BUMP = f"UPDATE {TABLE} SET value = value + 1 WHERE id = 1"
_READ = f"SELECT value FROM {TABLE} WHERE id = 1"


def writes_seen_data(statement: str) -> bool:
    """Whether `statement` writes a table some page shows (pure; tested table-driven)."""
    found = _WRITE.match(statement)
    return found is not None and found.group(1).lower() not in UNSEEN


def watch(engine: Engine) -> None:
    """Count, in `engine`'s database, every commit that wrote data (once per engine)."""
    if engine in _WATCHED:
        return
    _WATCHED.add(engine)

    @event.listens_for(engine, "before_cursor_execute")
    def _note(
        conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        if not conn.info.get(_DIRTY) and writes_seen_data(statement):
            conn.info[_DIRTY] = True

    @event.listens_for(engine, "commit")
    def _bump(conn: Any) -> None:
        # A connection the server dropped has no info to read: its commit fails on its own.
        if conn.invalidated or not conn.info.pop(_DIRTY, False):
            return
        if exists(conn):
            conn.exec_driver_sql(_BUMP)

    @event.listens_for(engine, "rollback")
    def _forget(conn: Any) -> None:
        if not conn.invalidated:  # an invalidated connection's info goes with it
            conn.info.pop(_DIRTY, None)


def exists(conn: Connection) -> bool:
    """Whether the database has the table (known for good once it has: it is never dropped but
    by a downgrade below 0014)."""
    if conn.engine in _FOUND:
        return True
    found = _table_exists(conn)
    if found:
        _FOUND.add(conn.engine)
    return found


def _table_exists(conn: Connection) -> bool:
    if conn.dialect.name == "sqlite":
        sql = f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{TABLE}'"
    else:
        sql = f"SELECT to_regclass('{TABLE}') IS NOT NULL"
    return bool(conn.exec_driver_sql(sql).scalar())


def read(conn: Connection) -> int | None:
    """The number now, on `conn`; None for a database without it (nothing should be cached
    then)."""
    if not exists(conn):
        return None
    value = conn.exec_driver_sql(_READ).scalar()
    return int(value) if value is not None else None


def current(session: Session) -> int | None:
    """`read` on the session's connection."""
    return read(session.connection())
