"""The catalog's rows: API keys, products, uploads, published versions and jobs.

The DB row is the truth (DESIGN.md): a job's state, a product's published version and which
stored objects are public all live here. Wire formats are in api/schemas.py, not here.
A product's visible version moves only through `Product.published_version_id`, so publishing is
one UPDATE inside one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone on the way back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    hashed: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the key
    name: Mapped[str | None] = mapped_column(String(64))  # a label for people ("supplier feed")
    # What the key may do: "read" (GET), "write" (create, upload, reprocess), "admin" (keys, webhooks).
    scopes: Mapped[list] = mapped_column(JSON, default=lambda: ["read", "write", "admin"])
    created: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("tenant", "sku"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    # Declared catalog dimensions (all four or none).
    width: Mapped[float | None] = mapped_column(Float)
    height: Mapped[float | None] = mapped_column(Float)
    depth: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(4))
    placement: Mapped[str] = mapped_column(String(8), default="floor")
    # Storefront text for AR (issue 7): the Quick Look banner, Scene Viewer's title and link, and
    # the locale whose unit the viewer's dimension labels use. All optional, all shown escaped.
    price: Mapped[str | None] = mapped_column(String(32))
    call_to_action: Mapped[str | None] = mapped_column(String(64))
    checkout_title: Mapped[str | None] = mapped_column(String(120))
    checkout_subtitle: Mapped[str | None] = mapped_column(String(120))
    title: Mapped[str | None] = mapped_column(String(200))
    link: Mapped[str | None] = mapped_column(String(2000))
    locale: Mapped[str | None] = mapped_column(String(35))
    published_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("versions.id", use_alter=True, ondelete="SET NULL")
    )
    created: Mapped[datetime] = mapped_column(default=utcnow)

    published_version: Mapped[Version | None] = relationship(foreign_keys=[published_version_id])


class Upload(Base):
    """An original file as received; kept in storage under a server-made key, never public."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    storage_key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))  # the client's name, for display only
    created: Mapped[datetime] = mapped_column(default=utcnow)


class Version(Base):
    """One set of published files for a product; visible only while the product points at it."""

    __tablename__ = "versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str | None] = mapped_column(String(32))
    # {"assets": {kind: key}, "dimensions_m": {...}, "report": key, ...}: what the manifest object says.
    manifest: Mapped[dict]
    created: Mapped[datetime] = mapped_column(default=utcnow)

    objects: Mapped[list[VersionObject]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class VersionObject(Base):
    """A stored object that belongs to a version: the only objects the files route may serve."""

    __tablename__ = "version_objects"

    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # glb, usdz, report
    key: Mapped[str] = mapped_column(String(200), index=True)
    content_type: Mapped[str] = mapped_column(String(100))


class Job(Base):
    __tablename__ = "jobs"
    # A client's Idempotency-Key names one job per tenant: a retried upload returns the same job.
    __table_args__ = (UniqueConstraint("tenant", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex: not guessable
    tenant: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"))
    settings: Mapped[dict]  # processing.settings.Settings as JSON: the run can be reproduced
    kind: Mapped[str] = mapped_column(String(16), default="upload")  # upload | reprocess
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    started: Mapped[datetime | None]
    finished: Mapped[datetime | None]
    # Leases and retries (issue 6, see assets/leases.py): the running attempt's owner and when its
    # lease lapses; the earliest time a retried job may run; when it was last handed to the queue.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires: Mapped[datetime | None]
    not_before: Mapped[datetime | None]
    enqueued: Mapped[datetime | None]

    product: Mapped[Product] = relationship()
    upload: Mapped[Upload] = relationship()


class TenantSettings(Base):
    """Per-tenant storefront settings: the origins allowed to frame the viewer (CSP frame-ancestors)."""

    __tablename__ = "tenant_settings"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    allowed_origins: Mapped[list] = mapped_column(JSON, default=list)  # ["https://shop.example", ...]
    webhook_secret: Mapped[str | None] = mapped_column(String(64))  # HMAC key of the tenant's webhooks


class Webhook(Base):
    """A tenant's subscription: `url` receives the `events` it names (assets/webhooks.py)."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSON)  # ["job.succeeded", "job.failed", "product.published"]
    created: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook: written in the transaction that caused it (an outbox), sent later."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)  # the receiver's HTTP status
    last_error: Mapped[str | None] = mapped_column(String(300))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    delivered: Mapped[datetime | None]


class EventCount(Base):
    """Shopper events counted per product, UTC day and kind: no visitor data is ever stored."""

    __tablename__ = "event_counts"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, portable across backends
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
