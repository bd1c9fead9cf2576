"""company_contracts.role: a winner or a subcontractor (issue 24)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 08:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("company_contracts") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="winner")
        )


def downgrade() -> None:
    with op.batch_alter_table("company_contracts") as batch:
        batch.drop_column("role")
