"""Migrations build the schema on an empty database, and agree with the models."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tests.helpers import OLD_SCHEMA_NOW, database_at
from watcher.db.base import Base
from watcher.db.search import managed_in_sql
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
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_name": lambda name, type_, _parent: not managed_in_sql(name, type_),
                },
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_departments_migration_keeps_every_stored_departement(database_url: str) -> None:
    """0007 (issue 13): the one-value `department` of stored notices becomes their list."""
    from sqlalchemy import text  # noqa: PLC0415

    engine = database_at(database_url, "0005")
    try:
        now = OLD_SCHEMA_NOW
        with engine.begin() as conn:
            for nid, dept in ((1, "57"), (2, None)):
                conn.execute(
                    text(
                        "INSERT INTO notices (id, source_id, native_id, title, notice_type,"
                        " department, snapshot, content_hash, version, relevant, score, reasons,"
                        " announced, first_seen_at, last_seen_at) VALUES (:id, 1, :nat, 't',"
                        " 'notice', :dept, '{}', 'h', 1, false, 0, '[]', false, :now, :now)"
                    ),
                    {"id": nid, "nat": f"n{nid}", "dept": dept, "now": now},
                )
        assert upgrade(engine) is True
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, department, departments FROM notices ORDER BY id")
            ).all()
        found = [(i, d, json.loads(x) if isinstance(x, str) else x) for i, d, x in rows]
        assert found == [(1, "57", ["57"]), (2, None, None)]
    finally:
        engine.dispose()


def test_compiled_migration_compiles_every_stored_procedure(database_url: str) -> None:
    """0011 (issue 23): procedures stored before get their compiled record, on their first
    notice only."""
    from sqlalchemy import text  # noqa: PLC0415

    engine = database_at(database_url, "0010")
    try:
        now = OLD_SCHEMA_NOW
        snapshots = {
            1: '{"title": "Construction du CRA", "published": "2026-11-20",'
            ' "deadline": "2027-02-15T11:00:00+00:00", "value": 40000000.0}',
            2: '{"title": "Attribution", "published": "2027-05-03", "value": 36500000.0,'
            ' "currency": "EUR", "winners": ["SPIE BATIGNOLLES NORD"]}',
        }
        with engine.begin() as conn:
            for nid, parent, phase, kind in (
                (1, None, "tender", "notice"),
                (2, 1, "award", "award"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO notices (id, source_id, native_id, title, notice_type,"
                        " snapshot, content_hash, version, relevant, score, reasons, announced,"
                        " first_seen_at, last_seen_at, parent_id, phase) VALUES (:id, 1, :nat,"
                        " 't', :kind, :snap, 'h', 1, true, 0, '[]', true, :now, :now, :parent,"
                        " :phase)"
                    ),
                    {"id": nid, "nat": f"n{nid}", "kind": kind, "snap": snapshots[nid],
                     "now": now, "parent": parent, "phase": phase},
                )  # fmt: skip
        assert upgrade(engine) is True
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, compiled FROM notices ORDER BY id")).all()
        found = {i: json.loads(x) if isinstance(x, str) else x for i, x in rows}
        assert found[2] is None
        assert found[1]["status"] == "awarded" and found[1]["title"] == "Construction du CRA"
        assert found[1]["awarded"]["amount"] == 36500000.0
        assert found[1]["estimate"]["amount"] == 40000000.0
        assert found[1]["from"]["awarded"]["ref"] == "n2"
    finally:
        engine.dispose()
