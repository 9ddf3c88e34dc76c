"""The catalog's queries: API keys, products, uploads and job state, in one place.

Routes and runners call these instead of writing SQL themselves, so tenant scoping is applied
the same way everywhere: every lookup by sku or job id takes the tenant, and another tenant's
row is simply not found. Functions take a session and leave committing to the caller. The
job-state transitions the runners make (claims, leases, fencing) are in assets/leases.py.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import ApiKey, EventCount, Job, Product, TenantSettings, Upload, Version, VersionObject, utcnow

DEFAULT_TENANT = "default"
KEY_PREFIX = "vk_"


class DuplicateSku(Exception):
    """A product with this sku already exists for the tenant."""


def new_id() -> str:
    """A random 128-bit id for jobs and uploads (not guessable, not sequential)."""
    return uuid.uuid4().hex


# API keys ---------------------------------------------------------------------------------------


def hash_key(key: str) -> str:
    # Keys are 256 random bits, so a plain sha256 is enough (no salt or stretching needed).
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, tenant: str) -> str:
    """Store a new key for `tenant` (hashed) and return it; this is the only time it is seen."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(tenant=tenant, hashed=hash_key(key)))
    return key


def revoke_api_key(session: Session, key: str) -> bool:
    row = session.scalar(select(ApiKey).where(ApiKey.hashed == hash_key(key), ApiKey.revoked_at.is_(None)))
    if row is None:
        return False
    row.revoked_at = utcnow()
    return True


def tenant_for_key(session: Session, key: str) -> str | None:
    return session.scalar(select(ApiKey.tenant).where(ApiKey.hashed == hash_key(key), ApiKey.revoked_at.is_(None)))


# Products ---------------------------------------------------------------------------------------


def create_product(session: Session, product: Product) -> Product:
    session.add(product)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise DuplicateSku(product.sku) from exc
    return product


def list_products(session: Session, tenant: str, limit: int, offset: int) -> list[Product]:
    query = select(Product).where(Product.tenant == tenant).order_by(Product.sku).limit(limit).offset(offset)
    return list(session.scalars(query))


def get_product(session: Session, tenant: str, sku: str) -> Product | None:
    return session.scalar(select(Product).where(Product.tenant == tenant, Product.sku == sku))


def published_product(session: Session, tenant: str, sku: str) -> Product | None:
    """The product if it has a published version (what public pages may show)."""
    product = get_product(session, tenant, sku)
    return product if product is not None and product.published_version_id is not None else None


def delete_product(session: Session, product: Product) -> list[str]:
    """Delete the product with its uploads, versions and jobs; returns the originals' storage keys.

    Published objects are content-addressed and may be shared with other products, so they stay
    in storage (no longer reachable through the files route); the originals are the caller's to delete.
    """
    keys = list(session.scalars(select(Upload.storage_key).where(Upload.product_id == product.id)))
    session.delete(product)
    return keys


# Uploads and jobs -------------------------------------------------------------------------------


def create_job(session: Session, product: Product, upload: Upload, settings: dict) -> Job:
    job = Job(id=new_id(), tenant=product.tenant, product=product, upload=upload, settings=settings)
    session.add(job)
    return job


def get_job(session: Session, tenant: str, job_id: str) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id, Job.tenant == tenant))


# Published objects ------------------------------------------------------------------------------


def published_object(session: Session, key: str) -> VersionObject | None:
    """The object behind `key` if some product currently publishes it; originals never are."""
    return session.scalar(
        select(VersionObject)
        .join(Version, Version.id == VersionObject.version_id)
        .join(Product, Product.published_version_id == Version.id)
        .where(VersionObject.key == key)
        .limit(1)
    )


# Storefront settings and shopper events (issue 7) ------------------------------------------------


def allowed_origins(session: Session, tenant: str) -> list[str]:
    """The storefront origins allowed to frame the tenant's viewer pages (empty: none)."""
    return list(session.scalar(select(TenantSettings.allowed_origins).where(TenantSettings.tenant == tenant)) or [])


def set_allowed_origins(session: Session, tenant: str, origins: list[str]) -> None:
    row = session.get(TenantSettings, tenant)
    if row is None:
        session.add(TenantSettings(tenant=tenant, allowed_origins=origins))
    else:
        row.allowed_origins = origins


def count_event(session: Session, product_id: int, kind: str, day: str) -> None:
    """Add one to the product's counter of `kind` on `day`; commits (it may retry a racing insert)."""
    key = (EventCount.product_id == product_id) & (EventCount.day == day) & (EventCount.kind == kind)
    for _ in range(2):
        if session.execute(update(EventCount).where(key).values(count=EventCount.count + 1)).rowcount:
            session.commit()
            return
        session.add(EventCount(product_id=product_id, day=day, kind=kind, count=1))
        try:
            session.commit()
            return
        except IntegrityError:
            session.rollback()  # another request created the row first: update it instead


def event_counts(session: Session, product_id: int, since_day: str) -> list[tuple[str, str, int]]:
    """(day, kind, count) of a product from `since_day` on, oldest day first."""
    query = (
        select(EventCount.day, EventCount.kind, EventCount.count)
        .where(EventCount.product_id == product_id, EventCount.day >= since_day)
        .order_by(EventCount.day, EventCount.kind)
    )
    return [tuple(row) for row in session.execute(query)]


def event_totals(session: Session, product_ids: list[int], kinds: tuple[str, ...]) -> dict[int, dict[str, int]]:
    """All-time totals of `kinds` per product, in one query (the catalog list shows them)."""
    query = (
        select(EventCount.product_id, EventCount.kind, func.sum(EventCount.count))
        .where(EventCount.product_id.in_(product_ids), EventCount.kind.in_(kinds))
        .group_by(EventCount.product_id, EventCount.kind)
    )
    totals: dict[int, dict[str, int]] = {}
    for product_id, kind, total in session.execute(query):
        totals.setdefault(product_id, {})[kind] = int(total)
    return totals
