"""One poll of a source at a time, across threads, processes and machines sharing one database.

The database is the coordinator: on PostgreSQL a session-level advisory lock
(`pg_try_advisory_lock`) whose key is a stable hash of the schema and the source name, held on a
connection of its own for the whole poll; PostgreSQL releases it by itself if the process dies. On
SQLite (one machine by nature) an exclusive `flock` on a file beside the database file,
`<database>.locks/<source>.lock`, which the kernel releases if the process dies. An in-memory SQLite
database is only ever seen by one process, so a plain thread lock does.

Nobody waits for a lock: whoever does not get it skips the poll, since the holder is doing the work.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_GUARD = threading.Lock()


def advisory_key(scope: str, name: str) -> int:
    """A signed 64-bit key for `pg_try_advisory_lock`, the same on every machine and Python run."""
    digest = hashlib.sha256(f"watcher:{scope}:source:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_path(database: str, name: str) -> Path:
    """The lock file of source `name` beside the SQLite database file `database`."""
    db = Path(database).expanduser()
    return db.with_name(db.name + ".locks") / f"{name}.lock"


@contextmanager
def source_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Try to take source `name`'s lock without waiting; yields whether it is held."""
    if engine.dialect.name == "postgresql":
        with _postgres_lock(engine, name) as held:
            yield held
        return
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        with _file_lock(lock_path(database, name)) as held:
            yield held
        return
    with _thread_lock(f"{engine.url}:{name}") as held:
        yield held


@contextmanager
def _postgres_lock(engine: Engine, name: str) -> Iterator[bool]:
    # A connection of its own, in autocommit: the lock belongs to the session, not to the poll's
    # transactions, and a failed poll (rolled back) still releases it in `finally`.
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        scope = str(conn.scalar(text("SELECT current_schema()")) or "public")
        key = advisory_key(scope, name)
        held = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        try:
            yield held
        finally:
            if held:
                try:
                    conn.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                except DBAPIError as exc:
                    if not exc.connection_invalidated:
                        raise
                    # The connection was dropped (server restart, pg_terminate_backend): the
                    # lock went with it, and the poll's own failure is already recorded.


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    # flock (not fcntl's POSIX locks) belongs to the open file, so two threads of one process that
    # each open the file exclude each other too.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _thread_lock(key: str) -> Iterator[bool]:
    with _MEMORY_GUARD:
        lock = _MEMORY_LOCKS.setdefault(key, threading.Lock())
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
