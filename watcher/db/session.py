"""The only place that creates engines and sessions, and brings the schema up to date."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from watcher.core import fastjson
from watcher.db import generation
from watcher.errors import StorageError
from watcher.settings import normalize_url

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"
POOL_SIZE = 20


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets its folder created, WAL and a busy timeout."""
    url = normalize_url(url)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    # JSON columns (snapshots, reasons, changes) are written and read with orjson.
    kwargs.update(json_serializer=fastjson.dumps, json_deserializer=fastjson.loads)
    # `watcher serve` answers 20 readers at once (issue 29): keep that many connections open,
    # rather than opening and closing one per request past the default 5.
    if ":memory:" not in url:
        kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    generation.watch(engine)
    return engine


def alembic_config(url: str) -> Any:
    """An Alembic `Config` for the migrations shipped with the project, pointed at `url`."""
    from alembic.config import Config  # noqa: PLC0415 - only needed for migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


_REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*[\"'](\w+)[\"']", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:[^=]*)?=\s*[\"'](\w+)[\"']", re.M)


@functools.cache
def shipped_head() -> str | None:
    """The head revision of the shipped migrations, read from their files without Alembic (a
    cron run on an up-to-date database never imports it, ~70 ms and ~8 MiB; issue 16). None
    when the files do not show exactly one head: Alembic decides then."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text("utf-8")
        found = _REVISION.search(source)
        if found is None:
            return None
        revisions.add(found.group(1))
        parents.update(_DOWN.findall(source))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _current_revision(engine: Engine) -> str | None:
    """The database's revision (plain SQL); None when it has none or cannot say."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except OperationalError as exc:
        raise StorageError(f"database {engine.url!r} cannot be reached: {exc.orig}") from None
    return rows[0] if len(rows) == 1 else None


def upgrade(engine: Engine) -> bool:
    """Bring the database to the latest schema; True when anything was applied."""
    head = shipped_head()
    if head is not None and _current_revision(engine) == head:
        return False  # up to date: no Alembic
    from alembic import command  # noqa: PLC0415
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    url = engine.url.render_as_string(hide_password=False)
    cfg = alembic_config(url)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    sqlite = engine.dialect.name == "sqlite"
    migrating = _all_or_nothing(url) if sqlite else engine
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head:
                return False
        if sqlite:
            _repair(migrating, current)
        with engine.connect() as conn:
            if current is None and inspect(conn).has_table("notices"):
                raise StorageError(
                    "the database has watcher tables but no migration record; "
                    "it was not created by `watcher db upgrade`"
                )
        with migrating.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise StorageError(f"database {engine.url!r} cannot be reached: {exc.orig}") from None
    finally:
        if migrating is not engine:
            migrating.dispose()
    return True


def _all_or_nothing(url: str) -> Engine:
    """An SQLite engine whose transactions hold DDL too (issue 26): the driver opens none before
    `CREATE TABLE` by itself, so a `kill -9` mid-migration left half a schema. Here each
    transaction is a `BEGIN IMMEDIATE`: a migration is applied whole or not at all."""
    migrating = make_engine(url)

    @event.listens_for(migrating, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(migrating, "begin")
    def _begin_immediate(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return migrating


def _repair(engine: Engine, current: str | None) -> None:
    """Undo what a migration of an older release left half done on SQLite (issue 26), when
    nothing can be lost: the tables, columns and indexes that the database has beyond what
    revision `current` makes (built on a scratch database in memory to compare), and Alembic's
    `_alembic_tmp_*` copies. A table that holds rows is never dropped: with no migration record
    and rows, the upgrade refuses as before."""
    tables, columns, indexes = _schema_of(current)
    with engine.begin() as conn:
        found = inspect(conn)
        present = set(found.get_table_names())
        stray = {t for t in present - tables - {"alembic_version"} if not _has_rows(conn, t)}
        if current is None and present - tables - stray - {"alembic_version"}:
            return  # tables with rows and no record: refused by the caller, nothing touched
        drops = [f'DROP TABLE "{t}"' for t in sorted(stray)]
        for table in sorted(present & tables):
            for index in found.get_indexes(table):
                if index["name"] and index["name"] not in indexes:
                    drops.append(f'DROP INDEX "{index["name"]}"')
            for column in found.get_columns(table):
                if column["name"] not in columns[table]:
                    drops.append(f'ALTER TABLE "{table}" DROP COLUMN "{column["name"]}"')
        for statement in drops:
            conn.exec_driver_sql(statement)


def _schema_of(revision: str | None) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """Tables, their columns and the index names that the shipped migrations make up to
    `revision` (nothing for None), read from a scratch SQLite database in memory."""
    if revision is None:
        return set(), {}, set()
    from alembic import command  # noqa: PLC0415

    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as conn:
            cfg = alembic_config("sqlite://")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            found = inspect(conn)
            tables = set(found.get_table_names())
            columns = {t: {c["name"] for c in found.get_columns(t)} for t in tables}
            indexes = {str(i["name"]) for t in tables for i in found.get_indexes(t)}
    finally:
        scratch.dispose()
    return tables, columns, indexes


def _has_rows(conn: Any, table: str) -> bool:
    return conn.exec_driver_sql(f'SELECT 1 FROM "{table}" LIMIT 1').first() is not None


FULL_DISK = 1024 * 1024  # bytes free below which a data disk counts as full


def read_only_on_full_disk(url: str) -> Engine | None:
    """An engine that only reads an SQLite database whose disk is full (issue 26): opening it
    as usual must write (the WAL's index) and fails with "disk I/O error", so `watcher serve`
    would not start. The file is opened `immutable` (what was checkpointed into it: a clean
    stop or a dispose checkpoints all). None when the URL is not SQLite or the disk has room."""
    import shutil  # noqa: PLC0415
    import sqlite3  # noqa: PLC0415

    url = normalize_url(url)
    if not url.startswith("sqlite:///") or url.startswith("sqlite:///:memory:"):
        return None
    path = Path(url.removeprefix("sqlite:///")).expanduser()
    if not path.is_file() or shutil.disk_usage(path.parent).free > FULL_DISK:
        return None
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    kwargs: dict[str, Any] = {"json_serializer": fastjson.dumps}
    kwargs["json_deserializer"] = fastjson.loads
    return create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        **kwargs,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
