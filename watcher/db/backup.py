"""`watcher backup` and `watcher restore`: the whole database in one file, and back.

- **SQLite**: SQLite's online backup API (`sqlite3.Connection.backup`) copies a consistent
  snapshot while polls and the web server keep running; the copy is checked (`PRAGMA
  integrity_check`, a migration record, the row counts) before it replaces `--out`, so a failed
  backup never overwrites the previous one. The file is an ordinary SQLite database.
- **PostgreSQL**: `pg_dump --format=custom` (the client must be at least the server's version;
  `apt-get install postgresql-client`) of the watcher's schema (`public`, or the one the URL's
  `options=-csearch_path=…` names, which a restore recreates), then the check: `pg_restore
  --list` must read the file and find the data of every watcher table. Restoring runs `pg_restore --clean --if-exists --no-owner
  --single-transaction`, all or nothing.

`restore` refuses to overwrite a database that already holds notices unless `--force` is given,
then runs the migrations, so a backup made by an older version restores into a newer one. Stop
`watcher serve`/`watcher run` before restoring. Document files (`<data dir>/documents/`) and
built feeds are files: copy the data folder with the backup (feeds are rebuilt by the next run).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from watcher.db.models import Event, Notice, NoticeVersion, Subscriber
from watcher.db.session import make_engine, make_sessionmaker, upgrade
from watcher.errors import StorageError
from watcher.settings import normalize_url

COUNTED = {"notices": Notice, "versions": NoticeVersion, "events": Event, "subscribers": Subscriber}
TABLES = ("alembic_version", "sources", "notices", "notice_versions", "events", "subscribers")


@dataclass
class BackupReport:
    """What a backup or a restore did, for one line of output."""

    path: Path
    method: str
    size: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self, verb: str) -> str:
        """`backup written: FILE (sqlite backup API, 1.2 MB; 40 notices, …)`."""
        counts = ", ".join(f"{n} {name}" for name, n in self.counts.items())
        return (
            f"{verb}: {self.path} ({self.method}, {self.size / 1e6:.1f} MB; {counts or 'checked'})"
        )


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise StorageError("an in-memory SQLite database cannot be backed up")
    return Path(parsed.database).expanduser()


def counts(url: str) -> dict[str, int]:
    """Rows of the tables people care about (notices, versions, events, subscribers)."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return {
                name: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in COUNTED.items()
            }
    finally:
        engine.dispose()


def _check_sqlite(path: Path) -> dict[str, int]:
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()
            if not verdict or verdict[0] != "ok":
                raise StorageError(f"{path}: the copy is damaged ({verdict and verdict[0]})")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            missing = [t for t in TABLES if t not in tables]
            if missing:
                raise StorageError(f"{path}: not a watcher database (no {missing[0]} table)")
            found: dict[str, int] = {}
            for name, model in COUNTED.items():
                table = model.__tablename__
                found[name] = int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            return found
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path}: not a readable SQLite database ({exc})") from None


def sweep_stale(out: Path) -> int:
    """Remove the temporary copies a killed backup to `out` left (issue 26: `kill -9` left a
    full-size `.<name>.<pid>.tmp` forever): those whose process is gone. A running backup's
    copy is left alone. How many were removed."""
    removed = 0
    for stale in out.parent.glob(f".{out.name}.*.tmp"):
        pid = stale.name[len(out.name) + 2 : -len(".tmp")]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        stale.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def backup(url: str, out: Path) -> BackupReport:
    """Write a checked copy of the database at `url` to `out` (replaced only once checked)."""
    out = out.expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    sweep_stale(out)
    path = _sqlite_path(url)
    try:
        if path is not None:
            if not path.exists():
                raise StorageError(f"database {path} does not exist")
            with contextlib.closing(sqlite3.connect(tmp)) as dst:
                dst.execute("PRAGMA journal_mode=DELETE")
            with (
                contextlib.closing(sqlite3.connect(path, timeout=30)) as src,
                contextlib.closing(sqlite3.connect(tmp)) as dst,
            ):
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")
            found = _check_sqlite(tmp)
            method = "SQLite online backup"
        else:
            schema = [f"--schema={name}"] if (name := search_path_schema(url)) else []
            _pg(["pg_dump", "--format=custom", "--no-owner", *schema, f"--file={tmp}"], url)
            _check_dump(tmp)
            found = counts(url)
            method = "pg_dump, checked with pg_restore --list"
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupReport(out, method, out.stat().st_size, found)


def restore(url: str, source: Path, *, force: bool = False) -> BackupReport:
    """Put the backup `source` into the database at `url`, then migrate it to this version."""
    source = source.expanduser()
    if not source.is_file():
        raise StorageError(f"{source}: no such backup file")
    path = _sqlite_path(url)
    if path is not None:
        _check_sqlite(source)
    else:
        _check_dump(source)
    existing = _existing_notices(url)
    if existing and not force:
        raise StorageError(
            f"the database already holds {existing} notices; add --force to replace it"
        )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with (
            contextlib.closing(sqlite3.connect(source)) as src,
            contextlib.closing(sqlite3.connect(path, timeout=30)) as dst,
        ):
            src.backup(dst)
        method = "SQLite online backup"
    else:
        _pg(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
            ],
            url,
            source,
        )
        method = "pg_restore"
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return BackupReport(source, method, source.stat().st_size, counts(url))


def _existing_notices(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("notices"):
                return 0
        return counts(url)["notices"]
    finally:
        engine.dispose()


def search_path_schema(url: str) -> str | None:
    """The schema a PostgreSQL URL works in when it sets one (`?options=-csearch_path%3Dwatcher`),
    else None (the default `public`). pg_dump ignores the search path and dumps every schema of
    the database: it is given this one with `--schema`, so a backup holds the watcher's tables
    and nothing else of a shared database."""
    options = make_url(normalize_url(url)).query.get("options")
    text = " ".join(options) if isinstance(options, tuple) else options or ""
    found = re.search(r"(?:^|\s)-c\s*search_path\s*=\s*([^\s,]+)", text)
    if not found:
        return None
    name = found.group(1).strip("\"'")
    return None if name in {"public", "$user", ""} else name


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for the command-line tools, the password moved to `PGPASSWORD`."""
    parsed = make_url(normalize_url(url))
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg(argv: list[str], url: str, *files: Path) -> None:
    tool = shutil.which(argv[0])
    if tool is None:
        raise StorageError(
            f"{argv[0]} is not installed (apt-get install postgresql-client); it backs up and "
            "restores PostgreSQL"
        )
    dsn, env = _libpq(url)
    done = subprocess.run(
        [tool, *argv[1:], f"--dbname={dsn}", *map(str, files)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise StorageError(f"{argv[0]} failed: {lines[-1] if lines else done.returncode}")


def _check_dump(path: Path) -> None:
    tool = shutil.which("pg_restore")
    if tool is None:
        raise StorageError("pg_restore is not installed (apt-get install postgresql-client)")
    listed = subprocess.run(
        [tool, "--list", str(path)], capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        raise StorageError(f"{path}: not a readable pg_dump file")
    data = {m.group(1) for m in re.finditer(r" TABLE DATA \S+ (\S+)", listed.stdout)}
    missing = [t for t in TABLES if t not in data]
    if missing:
        raise StorageError(f"{path}: the dump has no data for table {missing[0]}")
