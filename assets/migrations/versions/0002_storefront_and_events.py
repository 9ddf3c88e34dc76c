"""Storefront text on products, per-tenant storefront settings, shopper event counters (issue 7).

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STOREFRONT_COLUMNS = (
    ("price", 32),
    ("call_to_action", 64),
    ("checkout_title", 120),
    ("checkout_subtitle", 120),
    ("title", 200),
    ("link", 2000),
    ("locale", 35),
)


def upgrade() -> None:
    op.create_table(
        "tenant_settings",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
    )
    op.create_table(
        "event_counts",
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    with op.batch_alter_table("products") as batch:
        for name, length in STOREFRONT_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length)))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        for name, _ in reversed(STOREFRONT_COLUMNS):
            batch.drop_column(name)
    op.drop_table("event_counts")
    op.drop_table("tenant_settings")
