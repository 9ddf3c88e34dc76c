"""Job leases and retries for several runners (issue 6): lease owner and expiry, retry time, enqueue time.

Revision ID: 0003
Revises: 0002
Create Date: 2025-06-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(128)))
        batch.add_column(sa.Column("lease_expires", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("enqueued", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name in ("enqueued", "not_before", "lease_expires", "lease_owner"):
            batch.drop_column(name)
