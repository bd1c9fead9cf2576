"""Migrations build the schema on an empty database, and agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from watcher.db.base import Base
from watcher.db.session import make_engine, upgrade


def test_upgrade_empty_database_then_no_drift(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert upgrade(engine) is True
        assert upgrade(engine) is False  # already at head
        tables = set(inspect(engine).get_table_names())
        assert {"sources", "notices", "notice_versions", "events", "poll_runs"} <= tables
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
