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
from dataclasses import dataclass

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


SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class KeyAccess:
    """Who is calling with a key, and what the key may do."""

    key_id: int
    tenant: str
    scopes: frozenset[str]


def create_api_key(session: Session, tenant: str, scopes: tuple[str, ...] = SCOPES, name: str | None = None) -> str:
    """Store a new key for `tenant` (hashed) and return it; this is the only time it is seen."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(sorted(unknown)) or 'none'}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(tenant=tenant, hashed=hash_key(key), scopes=list(scopes), name=name))
    return key


def revoke_api_key(session: Session, key_or_id: str) -> bool:
    """Revoke a key given as the key itself or its id (from `list_api_keys`)."""
    which = ApiKey.id == int(key_or_id) if key_or_id.isdigit() else ApiKey.hashed == hash_key(key_or_id)
    row = session.scalar(select(ApiKey).where(which, ApiKey.revoked_at.is_(None)))
    if row is None:
        return False
    row.revoked_at = utcnow()
    return True


def list_api_keys(session: Session, tenant: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id)
    return list(session.scalars(query if tenant is None else query.where(ApiKey.tenant == tenant)))


def key_access(session: Session, key: str) -> KeyAccess | None:
    """The live key behind `key`, or None. Looked up by its SHA-256: the comparison is on a hash of a
    secret with 256 random bits, so the lookup's timing reveals nothing usable about the key."""
    row = session.scalar(select(ApiKey).where(ApiKey.hashed == hash_key(key), ApiKey.revoked_at.is_(None)))
    return None if row is None else KeyAccess(row.id, row.tenant, frozenset(row.scopes))


def tenant_for_key(session: Session, key: str) -> str | None:
    access = key_access(session, key)
    return None if access is None else access.tenant


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


def create_job(
    session: Session,
    product: Product,
    upload: Upload,
    settings: dict,
    kind: str = "upload",
    idempotency_key: str | None = None,
) -> Job:
    job = Job(
        id=new_id(),
        tenant=product.tenant,
        product=product,
        upload=upload,
        settings=settings,
        kind=kind,
        idempotency_key=idempotency_key,
    )
    session.add(job)
    return job


def get_job(session: Session, tenant: str, job_id: str) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id, Job.tenant == tenant))


def queued_jobs(session: Session, tenant: str) -> int:
    return session.scalar(select(func.count()).where(Job.tenant == tenant, Job.status == "queued"))


def job_for_idempotency_key(session: Session, tenant: str, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.tenant == tenant, Job.idempotency_key == key))


def product_jobs(session: Session, product: Product, limit: int) -> list[Job]:
    """The product's jobs, newest first."""
    query = select(Job).where(Job.product_id == product.id).order_by(Job.created.desc(), Job.id).limit(limit)
    return list(session.scalars(query))


def latest_jobs(session: Session, product_ids: list[int]) -> dict[int, Job]:
    """Each product's newest job, in one query (the catalog list shows its status)."""
    newest = (
        select(Job.product_id, func.max(Job.created).label("created"))
        .where(Job.product_id.in_(product_ids))
        .group_by(Job.product_id)
        .subquery()
    )
    query = select(Job).join(newest, (Job.product_id == newest.c.product_id) & (Job.created == newest.c.created))
    return {job.product_id: job for job in session.scalars(query)}


def published_sources(session: Session, product_ids: list[int]) -> dict[int, Upload]:
    """The original behind each product's published version, in one query (batch uploads skip on its hash)."""
    query = (
        select(Product.id, Upload)
        .join(Version, Version.id == Product.published_version_id)
        .join(Job, Job.id == Version.job_id)
        .join(Upload, Upload.id == Job.upload_id)
        .where(Product.id.in_(product_ids))
    )
    return {product_id: upload for product_id, upload in session.execute(query)}


def source_upload(session: Session, product: Product) -> Upload | None:
    """The original to re-process: the published version's, else the newest one received."""
    published = published_sources(session, [product.id]).get(product.id)
    if published is not None:
        return published
    query = select(Upload).where(Upload.product_id == product.id).order_by(Upload.created.desc()).limit(1)
    return session.scalar(query)


def product_versions(session: Session, product: Product, limit: int) -> list[Version]:
    query = select(Version).where(Version.product_id == product.id).order_by(Version.id.desc()).limit(limit)
    return list(session.scalars(query))


def get_version(session: Session, product: Product, version_id: int) -> Version | None:
    return session.scalar(select(Version).where(Version.product_id == product.id, Version.id == version_id))


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
