"""compiled procedures: what each procedure is now, and which notice stated each fact

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("compiled", sa.JSON(), nullable=True))
    # The procedures stored before: compiled once from their notices (`watcher rematch` does it
    # again at any time).
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from watcher.db.compiled import compile_all  # noqa: PLC0415

    with Session(bind=op.get_bind()) as session:
        compile_all(session)
        session.flush()


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("compiled")
