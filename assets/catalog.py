"""The catalog's queries: API keys, products, uploads and job state, in one place.

Routes and runners call these instead of writing SQL themselves, so tenant scoping is applied
the same way everywhere: every lookup by sku or job id takes the tenant, and another tenant's
row is simply not found. Functions take a session and leave committing to the caller, except
the job-state transitions the runner makes, which are each one committed statement.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import ApiKey, Job, Product, Upload, Version, VersionObject, utcnow

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


@dataclass(frozen=True)
class ClaimedJob:
    """What a runner needs to run one attempt of a job."""

    id: str
    attempt: int
    product_id: int
    sku: str
    upload_key: str
    settings: dict


def claim_next_job(session: Session) -> ClaimedJob | None:
    """Move the oldest queued job to running and return it; None when nothing is queued.

    The conditional UPDATE makes the claim safe when several runner threads race for one job.
    """
    while True:
        job = session.scalar(select(Job).where(Job.status == "queued").order_by(Job.created).limit(1))
        if job is None:
            return None
        claimed = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.status == "queued")
            .values(status="running", attempts=Job.attempts + 1, started=utcnow(), progress=0.0)
        )
        session.commit()
        if claimed.rowcount == 1:
            session.refresh(job)
            return ClaimedJob(
                job.id, job.attempts, job.product_id, job.product.sku, job.upload.storage_key, job.settings
            )


def set_progress(session: Session, job: ClaimedJob, progress: float) -> None:
    session.execute(update(Job).where(current_attempt(job)).values(progress=progress))
    session.commit()


def finish_failed(session: Session, job: ClaimedJob, code: str, message: str) -> None:
    session.execute(
        update(Job)
        .where(current_attempt(job))
        .values(status="failed", error_code=code, error_message=message[:500], finished=utcnow())
    )
    session.commit()


def requeue(session: Session, job: ClaimedJob) -> None:
    """Give a running attempt back to the queue (shutdown, or an infrastructure failure)."""
    session.execute(update(Job).where(current_attempt(job)).values(status="queued", progress=0.0, started=None))
    session.commit()


def recover_interrupted(session: Session, max_attempts: int) -> tuple[int, int]:
    """At start-up: jobs left `running` by a previous process run again, unless out of attempts.

    Returns (requeued, failed).
    """
    running = Job.status == "running"
    failed = session.execute(
        update(Job)
        .where(running, Job.attempts >= max_attempts)
        .values(
            status="failed",
            error_code="INTERRUPTED",
            error_message="The conversion was interrupted too many times; upload the file again.",
            finished=utcnow(),
        )
    ).rowcount
    requeued = session.execute(update(Job).where(running).values(status="queued", progress=0.0)).rowcount
    session.commit()
    return requeued, failed


def current_attempt(job: ClaimedJob):
    """Fencing: only the attempt that claimed the job may change it (a re-run or a delete wins)."""
    return (Job.id == job.id) & (Job.status == "running") & (Job.attempts == job.attempt)


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
