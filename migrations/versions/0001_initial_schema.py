"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 15:34:14.209568
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watcher.db.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("last_polled_at", watcher.db.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", watcher.db.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", watcher.db.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_count", sa.Integer(), nullable=True),
        sa.Column("flagged", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            watcher.db.base.TZDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_sources_name")),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("native_id", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("buyer", sa.Text(), nullable=True),
        sa.Column("published", sa.Date(), nullable=True),
        sa.Column("deadline", watcher.db.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("notice_type", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=8), nullable=True),
        sa.Column("procedure_id", sa.String(length=200), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("relevant", sa.Boolean(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", watcher.db.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", watcher.db.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("link_method", sa.String(length=32), nullable=True),
        sa.Column("link_confidence", sa.Float(), nullable=True),
        sa.Column("also", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["notices.id"],
            name=op.f("fk_notices_parent_id_notices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_notices_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("source_id", "native_id", name=op.f("uq_notices_source_id")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_deadline"), ["deadline"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_procedure_id"), ["procedure_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_relevant"), ["relevant"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_site"), ["site"], unique=False)

    op.create_table(
        "poll_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("started_at", watcher.db.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", watcher.db.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_poll_runs_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_runs")),
    )
    with op.batch_alter_table("poll_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_runs_source_id"), ["source_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("created_at", watcher.db.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_events_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("key", name=op.f("uq_events_key")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_notice_id"), ["notice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_site"), ["site"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_type"), ["type"], unique=False)

    op.create_table(
        "notice_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("fetched_at", watcher.db.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("fetch_url", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_notice_versions_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_versions")),
        sa.UniqueConstraint("notice_id", "version", name=op.f("uq_notice_versions_notice_id")),
    )


def downgrade() -> None:
    op.drop_table("notice_versions")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_type"))
        batch_op.drop_index(batch_op.f("ix_events_site"))
        batch_op.drop_index(batch_op.f("ix_events_notice_id"))
        batch_op.drop_index("ix_events_created_at_id")

    op.drop_table("events")
    with op.batch_alter_table("poll_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_runs_source_id"))

    op.drop_table("poll_runs")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_site"))
        batch_op.drop_index(batch_op.f("ix_notices_relevant"))
        batch_op.drop_index(batch_op.f("ix_notices_procedure_id"))
        batch_op.drop_index(batch_op.f("ix_notices_deadline"))
        batch_op.drop_index(batch_op.f("ix_notices_parent_id"))

    op.drop_table("notices")
    op.drop_table("sources")
