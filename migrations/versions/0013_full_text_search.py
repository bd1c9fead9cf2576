"""search_entries: full-text search with each database's own engine; subscribers.query

SQLite: an FTS5 table over `search_entries` (external content, `unicode61 remove_diacritics 2`)
kept in sync by triggers. PostgreSQL: the text search configuration `watcher_search` ('simple'
words, accents removed by `unaccent` when the extension can be created), a trigger filling the
weighted `tsv` column. The index of the notices and document texts already stored, and the GIN
index, are built by 0017 (issue 27).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 07:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from watcher.db import search  # noqa: PLC0415

    op.create_table(
        "search_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("buyer", sa.Text(), nullable=True),
        sa.Column("companies", sa.Text(), nullable=True),
        sa.Column("keys", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "tsv", sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_search_entries_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_search_entries_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_entries")),
    )
    with op.batch_alter_table("search_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_search_entries_document_id"), ["document_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_search_entries_notice_id"), ["notice_id"], unique=False
        )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("query", sa.Text(), nullable=True))
    bind = op.get_bind()
    search.create_engine_objects(bind)
    # The entries of the notices already stored, and the indexes, are written by 0017: since
    # then an entry says whether its notice is relevant (`watcher.db.search` writes it so).


def downgrade() -> None:
    search_drop = op.get_bind()
    from watcher.db import search  # noqa: PLC0415

    search.drop_engine_objects(search_drop)
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("query")
    with op.batch_alter_table("search_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_entries_notice_id"))
        batch_op.drop_index(batch_op.f("ix_search_entries_document_id"))
    op.drop_table("search_entries")
