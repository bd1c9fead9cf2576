"""http_validators: ETag / Last-Modified per page, for conditional requests (issue 16)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watcher.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "http_validators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("last_modified", sa.String(length=64), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("context", sa.String(length=64), nullable=False),
        sa.Column("checked_at", watcher.db.base.TZDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_http_validators_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_http_validators")),
        sa.UniqueConstraint("source_id", "url", name=op.f("uq_http_validators_source_id")),
    )

    # PostgreSQL: raw payloads and snapshots compressed with lz4 instead of pglz, about a third
    # less server time for a first poll's 90 MB of BOAMP records (issue 16); new rows only, and
    # only where the server was built with lz4.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _has_lz4(bind):
        for table, column in _COMPRESSED:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


_COMPRESSED = (
    ("notice_versions", "raw"),
    ("notice_versions", "snapshot"),
    ("notices", "snapshot"),
)


def _has_lz4(bind: sa.engine.Connection) -> bool:
    found = bind.execute(
        sa.text(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)"
        )
    ).first()
    return found is not None


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _has_lz4(bind):
        for table, column in _COMPRESSED:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION DEFAULT")
    op.drop_table("http_validators")
