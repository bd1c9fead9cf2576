"""procedure phases: each notice's OCDS phase, and a procedure's current facts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 07:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("phase", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("procedure_state", sa.JSON(), nullable=True))
    # Notices stored before phases: the phase their notice type gives (see watcher.core.phases).
    op.execute(
        "UPDATE notices SET phase = CASE notice_type"
        " WHEN 'prior_information' THEN 'planning'"
        " WHEN 'corrigendum' THEN 'tenderAmendment'"
        " WHEN 'award' THEN 'award'"
        " WHEN 'cancellation' THEN 'tenderCancellation'"
        " ELSE 'tender' END"
    )


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("procedure_state")
        batch.drop_column("phase")
