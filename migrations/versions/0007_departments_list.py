"""départements as lists, deadlines as the portal wrote them (issue 13)

Adds `notices.departments` (every département a notice concerns; the old one-value
`department` column is kept as its first item, so that older readers still work), filled from
`department` for the notices already stored (none lost), and `notices.deadline_local` /
`notices.deadline_zone`, the portal's own date or wall-clock time and its zone (empty for notices
stored before: they are shown in Paris time, as they were).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    op.add_column("notices", sa.Column("departments", sa.JSON(), nullable=True))
    op.add_column("notices", sa.Column("deadline_local", sa.String(length=16), nullable=True))
    op.add_column("notices", sa.Column("deadline_zone", sa.String(length=40), nullable=True))
    notices = sa.table(
        "notices",
        sa.column("id", sa.Integer()),
        sa.column("department", sa.String()),
        sa.column("departments", sa.JSON()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(notices.c.id, notices.c.department).where(notices.c.department.is_not(None))
    ).all()
    update = (
        notices.update()
        .where(notices.c.id == sa.bindparam("nid"))
        .values(departments=sa.bindparam("codes", type_=sa.JSON()))
    )
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        bind.execute(update, [{"nid": nid, "codes": [code]} for nid, code in batch])


def downgrade() -> None:
    # `department` still holds the first département of each notice: nothing it had is lost.
    op.drop_column("notices", "deadline_zone")
    op.drop_column("notices", "deadline_local")
    op.drop_column("notices", "departments")
