"""page indexes: what the site's pages count and list, read from indexes (issue 29)

`ix_notices_site_listing` (relevant, site, parent_id, first_seen_at, id): the per-site counts of
`/sites` and its map, and a site's newest procedures (`/sites/<slug>`), without reading the wide
notice rows. `ix_notices_source_relevant` (source_id, relevant, id): the per-source counts of
`/sources`. `ix_notices_award_listing` (notice_type, relevant, site, parent_id, id): the
procedures with an award that `/radar` reads.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 10:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_notices_site_listing",
        "notices",
        ["relevant", "site", "parent_id", "first_seen_at", "id"],
    )
    op.create_index("ix_notices_source_relevant", "notices", ["source_id", "relevant", "id"])
    op.create_index(
        "ix_notices_award_listing",
        "notices",
        ["notice_type", "relevant", "site", "parent_id", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_notices_award_listing", table_name="notices")
    op.drop_index("ix_notices_source_relevant", table_name="notices")
    op.drop_index("ix_notices_site_listing", table_name="notices")
