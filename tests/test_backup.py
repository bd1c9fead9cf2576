"""`watcher backup` then `watcher restore` into a fresh database gives the same feeds (issue 17),
on SQLite (online backup API) and PostgreSQL (pg_dump, checked)."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer
from tests.test_pipeline import BoampPortal, sources_yaml
from watcher.cli import main
from watcher.db.backup import search_path_schema
from watcher.db.session import normalize_url
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.publish.feeds import write_feeds

PG_URL = os.environ.get("WATCHER_TEST_DATABASE_URL")


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    """A database nobody has used: a new SQLite file, or a new PostgreSQL database."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'restored' / 'watcher.sqlite3'}"
        return
    name = f"wt_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def source_url(tmp_path: Path) -> Iterator[str]:
    """The database backed up; on PostgreSQL a whole database (pg_dump dumps databases)."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'data' / 'watcher.sqlite3'}"
        return
    name = f"wt_backup_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def feeds(runtime: Runtime, out: Path) -> dict[str, bytes]:
    with runtime.sessions() as session:
        write_feeds(session, runtime.settings, out, sites=runtime.matcher.site_slugs)
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_backup_then_restore_into_a_fresh_database_gives_the_same_feeds(
    tmp_path: Path,
    portal: tuple[BoampPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    source_url: str,
    fresh_url: str,
) -> None:
    yaml = sources_yaml(portal[1].url)
    original = make_runtime(yaml, database_url=source_url)
    run_sources(original.config.build(), original.context())
    portal[0].load("poll_page_moved_deadline.json")
    run_sources(original.config.build(), original.context())
    before = feeds(original, tmp_path / "feeds-before")
    assert b"<entry>" in before["all.atom"]

    out = tmp_path / "backups" / "watcher.db.backup"
    runner = CliRunner()
    done = runner.invoke(main, ["backup", "--out", str(out)], env=runtime_env(original))
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"backup written: {out} (") and "notices" in done.output
    assert out.stat().st_size > 0

    restored = make_runtime(yaml, database_url=fresh_url, data_dir=tmp_path / "restored-data")
    env = runtime_env(restored)
    back = runner.invoke(main, ["restore", str(out)], env=env)
    assert back.exit_code == 0, back.output
    assert back.output.startswith("restored: ")
    after = feeds(restored, tmp_path / "feeds-after")
    assert after == before

    # A database with notices is not overwritten by accident; a damaged file is refused.
    again = runner.invoke(main, ["restore", str(out)], env=env)
    assert again.exit_code == 1 and "add --force to replace it" in again.output
    assert runner.invoke(main, ["restore", "--force", str(out)], env=env).exit_code == 0
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(out.read_bytes()[:2000])
    broken = runner.invoke(main, ["restore", "--force", str(damaged)], env=env)
    assert broken.exit_code == 1 and broken.output.startswith("error: ")
    assert "Traceback" not in broken.output
    assert feeds(restored, tmp_path / "feeds-still") == before


@pytest.mark.parametrize(
    ("url", "schema"),
    [
        ("postgresql://u@h/db", None),
        ("postgresql://u@h/db?options=-csearch_path%3Dt_abc", "t_abc"),
        ("postgresql://u@h/db?options=-c%20search_path%3Dwatcher,public", "watcher"),
        ("postgresql://u@h/db?options=-csearch_path%3Dpublic", None),
        (
            "postgresql://u@h/db?sslmode=require"
            "&options=-c%20statement_timeout%3D5000%20-c%20search_path%3D%22w%22",
            "w",
        ),
    ],
)
def test_the_schema_a_url_works_in(url: str, schema: str | None) -> None:
    assert search_path_schema(url) == schema


@pytest.mark.skipif(
    not PG_URL, reason="needs PostgreSQL (WATCHER_TEST_DATABASE_URL): a schema of a shared database"
)
def test_a_backup_holds_only_the_watchers_schema(
    tmp_path: Path,
    portal: tuple[BoampPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    database_url: str,
) -> None:
    """A watcher in its own schema of a shared database (`search_path` in the URL): the backup
    is that schema, not the whole database, and restores into it."""
    schema = search_path_schema(database_url)
    assert schema
    other = f"t_other_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalize_url(str(PG_URL)), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{other}"'))
        conn.execute(text(f'CREATE TABLE "{other}".notices (id int)'))
    try:
        runtime = make_runtime(sources_yaml(portal[1].url))
        run_sources(runtime.config.build(), runtime.context())
        before = feeds(runtime, tmp_path / "before")
        out = tmp_path / "watcher.db.backup"
        runner = CliRunner()
        done = runner.invoke(main, ["backup", "--out", str(out)], env=runtime_env(runtime))
        assert done.exit_code == 0, done.output
        listed = subprocess.run(
            ["pg_restore", "--list", str(out)], capture_output=True, text=True, check=True
        ).stdout
        schemas = set(re.findall(r" TABLE DATA (\S+) \S+", listed))
        assert schemas == {schema}, listed
        back = runner.invoke(main, ["restore", "--force", str(out)], env=runtime_env(runtime))
        assert back.exit_code == 0, back.output
        assert feeds(runtime, tmp_path / "after") == before
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{other}" CASCADE'))
        admin.dispose()
