"""The foundation's catalog: API keys, products, uploads, versions and their objects, jobs.

Revision ID: 0001
Revises:
Create Date: 2025-06-01

Databases made before migrations existed (tables created at start-up) are stamped with this
revision by assets.db.migrate and continue from here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("hashed", sa.String(64), nullable=False, unique=True),
        sa.Column("created", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant"])
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("width", sa.Float()),
        sa.Column("height", sa.Float()),
        sa.Column("depth", sa.Float()),
        sa.Column("unit", sa.String(4)),
        sa.Column("placement", sa.String(8), nullable=False),
        sa.Column("published_version_id", sa.Integer()),
        sa.Column("created", UTC_DATETIME, nullable=False),
        sa.UniqueConstraint("tenant", "sku"),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("storage_key", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("created", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_uploads_product_id", "uploads", ["product_id"])
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("job_id", sa.String(32)),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("created", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_versions_product_id", "versions", ["product_id"])
    # products and versions point at each other: the second link is added once both exist (on
    # SQLite, batch mode rebuilds the table with it).
    with op.batch_alter_table("products") as batch:
        batch.create_foreign_key(
            "fk_products_published_version_id", "versions", ["published_version_id"], ["id"], ondelete="SET NULL"
        )
    op.create_table(
        "version_objects",
        sa.Column(
            "version_id", sa.Integer(), sa.ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
    )
    op.create_index("ix_version_objects_key", "version_objects", ["key"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("upload_id", sa.String(32), sa.ForeignKey("uploads.id", ondelete="CASCADE"), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.String(500)),
        sa.Column("created", UTC_DATETIME, nullable=False),
        sa.Column("started", UTC_DATETIME),
        sa.Column("finished", UTC_DATETIME),
    )
    op.create_index("ix_jobs_product_id", "jobs", ["product_id"])
    op.create_index("ix_jobs_status", "jobs", ["status"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("version_objects")
    with op.batch_alter_table("products") as batch:
        batch.drop_constraint("fk_products_published_version_id", type_="foreignkey")
    op.drop_table("versions")
    op.drop_table("uploads")
    op.drop_table("products")
    op.drop_table("api_keys")
