"""company_awards: the winners read from each award notice, so that the company rebuild after a
round re-reads only the notices the round changed (issue 29). Filled by the next rebuild.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "company_awards",
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("extractor", sa.Integer(), nullable=False),
        sa.Column("awards", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_company_awards_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("notice_id", name=op.f("pk_company_awards")),
    )


def downgrade() -> None:
    op.drop_table("company_awards")
