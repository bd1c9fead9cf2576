"""companies: winners resolved into companies, their contracts, company subscriptions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 07:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watcher.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent", sa.String(length=100), nullable=True),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("updated_at", watcher.db.base.TZDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("slug", name=op.f("uq_companies_slug")),
    )
    op.create_index(op.f("ix_companies_parent"), "companies", ["parent"], unique=False)
    op.create_table(
        "company_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("procedure_notice_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("lot", sa.String(length=64), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("amount_kind", sa.String(length=32), nullable=False),
        sa.Column("shared", sa.Integer(), nullable=False),
        sa.Column("awarded_on", sa.Date(), nullable=True),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("relevant", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_company_contracts_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_company_contracts_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["procedure_notice_id"],
            ["notices.id"],
            name=op.f("fk_company_contracts_procedure_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_contracts")),
    )
    for column in ("company_id", "notice_id", "procedure_notice_id", "site"):
        op.create_index(
            op.f(f"ix_company_contracts_{column}"), "company_contracts", [column], unique=False
        )
    with op.batch_alter_table("subscribers") as batch:
        # Existing subscribers follow no company: "[]" for them, then no server default (as the
        # model says; PostgreSQL cannot compare JSON defaults, so none is kept).
        batch.add_column(sa.Column("companies", sa.JSON(), server_default="[]", nullable=False))
    with op.batch_alter_table("subscribers") as batch:
        batch.alter_column("companies", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("companies")
    for column in ("site", "procedure_notice_id", "notice_id", "company_id"):
        op.drop_index(op.f(f"ix_company_contracts_{column}"), table_name="company_contracts")
    op.drop_table("company_contracts")
    op.drop_index(op.f("ix_companies_parent"), table_name="companies")
    op.drop_table("companies")
