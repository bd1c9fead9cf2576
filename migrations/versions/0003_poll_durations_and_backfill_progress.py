"""poll durations and backfill progress (`watcher backfill` resumes from it)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 15:41:29.573678
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watcher.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backfill_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("done_until", watcher.db.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("windows", sa.Integer(), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("started_at", watcher.db.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", watcher.db.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", watcher.db.base.TZDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_backfill_progress_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_progress")),
        sa.UniqueConstraint("source_id", "since", name=op.f("uq_backfill_progress_source_id")),
    )
    with op.batch_alter_table("poll_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("poll_runs", schema=None) as batch_op:
        batch_op.drop_column("seconds")

    op.drop_table("backfill_progress")
