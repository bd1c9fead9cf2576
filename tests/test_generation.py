"""The data generation (`watcher.db.generation`): the number page and search caches key on grows
at every commit that wrote something a page shows, whoever wrote it, and at no other."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.helpers import BoampPortal
from tests.loopback import LoopbackServer
from tests.test_pipeline import sources_yaml
from watcher.db import generation
from watcher.db.session import make_engine, upgrade
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime


@pytest.mark.parametrize(
    ("statement", "seen"),
    [
        ("INSERT INTO notices (title) VALUES (?)", True),
        ('INSERT INTO "events" (kind) VALUES (%(kind)s)', True),
        ("  update notices SET relevant = 1", True),
        ("DELETE FROM company_contracts WHERE id = ?", True),
        ("INSERT INTO counters (key, hits) VALUES (?, ?)", False),  # abuse counters: no page
        ("UPDATE generation SET value = value + 1 WHERE id = 1", False),
        ("UPDATE alembic_version SET version_num='0014'", False),
        ("SELECT * FROM notices", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
    ],
)
def test_which_statements_count(statement: str, seen: bool) -> None:
    assert generation.writes_seen_data(statement) is seen


def _now(runtime: Runtime) -> int | None:
    with runtime.sessions() as session:
        return generation.current(session)


def test_a_poll_a_refused_form_and_another_process(
    portal: tuple[BoampPortal, LoopbackServer], make_runtime: Callable[..., Runtime]
) -> None:
    _, server = portal
    runtime = make_runtime(sources_yaml(server.url))
    start = _now(runtime)
    assert start is not None

    [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.ok and result.new > 0
    after_poll = _now(runtime)
    assert after_poll is not None and after_poll > start

    with runtime.sessions() as session, session.begin():  # a refused form counts, no page shows it
        session.execute(
            text("INSERT INTO counters (key, window_start, hits) VALUES ('k', :t, 1)"),
            {"t": "2026-12-05 10:00:00"},
        )
    assert _now(runtime) == after_poll

    with runtime.sessions() as session:  # a write rolled back changes nothing
        session.execute(text("UPDATE notices SET title = title"))
        session.rollback()
    assert _now(runtime) == after_poll

    # Another process (a cron job of the watcher) writes: this process sees the number grow.
    write = (
        "from watcher.db.session import make_engine\n"
        f"with make_engine({runtime.settings.db_url!r}).begin() as conn:\n"
        "    conn.exec_driver_sql('UPDATE notices SET title = title')\n"
    )
    done = subprocess.run([sys.executable, "-c", write], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (_now(runtime) or 0) > after_poll


@pytest.mark.skipif(
    not os.environ.get("WATCHER_TEST_DATABASE_URL"), reason="PostgreSQL ends connections"
)
def test_a_connection_the_server_ended_rolls_back_as_before(database_url: str) -> None:
    """The hooks never stand in the way of SQLAlchemy's own error for a dropped connection."""
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as victim:
        victim.exec_driver_sql("UPDATE sources SET name = name")  # a write: the flag is set
        pid = victim.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with engine.connect() as admin:
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)})")
            admin.commit()
        with pytest.raises(OperationalError):
            victim.exec_driver_sql("SELECT 1")
        victim.rollback()  # the hook reads nothing of a connection that is gone
    with Session(engine) as session:
        assert generation.current(session) is not None  # the pool answers again
    engine.dispose()
