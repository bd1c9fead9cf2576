"""search_entries.relevant: the relevant notices' entries indexed on their own (issue 27)

A search reads the relevant notices by default. Ranking every match and keeping the relevant
ones ranked about seven times the rows a page needs (a word said by every other notice is 55,000
matches at 100,000 notices). Each entry now carries its notice's `relevant`, and the relevant
entries have an index of their own: SQLite's FTS5 table `search_fts_relevant` (kept by triggers
on `search_entries`), PostgreSQL's partial GIN index `ix_search_entries_tsv_relevant`. A trigger
on `notices` copies a notice's new relevance to its entries (a rematch, a procedure that becomes
relevant).

The index of a database that has notices but no entries yet (one upgraded from before 0013 in
the same run) is built here, with progress in the log: since 0017 its rows say their relevance.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 14:00:00.000000
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("watcher.db.search")


def upgrade() -> None:
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from watcher.db import search  # noqa: PLC0415

    bind = op.get_bind()
    # Not a batch operation: SQLite would copy the table and lose the FTS5 triggers.
    bind.exec_driver_sql(
        "ALTER TABLE search_entries ADD COLUMN relevant BOOLEAN DEFAULT "
        + ("0" if bind.dialect.name == "sqlite" else "false")
        + " NOT NULL"
    )
    search.create_relevant_objects(bind)
    started = time.monotonic()
    entries = bind.exec_driver_sql("SELECT count(*) FROM search_entries").scalar() or 0
    notices = bind.exec_driver_sql("SELECT count(*) FROM notices").scalar() or 0
    if notices and not entries:
        log.info("search index: building it for %d notices", notices)
        search.drop_indexes(bind)
        with Session(bind=bind) as session:
            search.rebuild(session)
            session.flush()
    else:
        # The triggers add each relevant entry to the relevant entries' index (SQLite).
        bind.exec_driver_sql(
            "UPDATE search_entries SET relevant = "
            + ("1" if bind.dialect.name == "sqlite" else "true")
            + " WHERE notice_id IN (SELECT id FROM notices WHERE relevant)"
        )
    search.create_indexes(bind)
    if bind.dialect.name == "postgresql":
        # The planner reads the relevant entries' index once it knows how few they are.
        bind.exec_driver_sql("ANALYZE search_entries")
    if notices:
        log.info("search index: %d notices indexed in %.1f s", notices, time.monotonic() - started)


def downgrade() -> None:
    from watcher.db import search  # noqa: PLC0415

    bind = op.get_bind()
    search.drop_relevant_objects(bind)
    bind.exec_driver_sql("ALTER TABLE search_entries DROP COLUMN relevant")
