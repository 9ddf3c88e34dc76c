"""Job claims, leases and fencing: how several runners share the jobs table without double work.

The job row is the truth and a queue (RQ) is only a hint. A runner *claims* a queued job with one
conditional UPDATE (status queued → running, attempts + 1, a lease with its owner and expiry):
of two runners handed the same job, exactly one claims it. While it works, the owner renews the
lease. Every later change the attempt makes — progress, failure, requeue and above all the
publish transaction — is *fenced* by `current_attempt`: the same attempt number, still running,
lease not lapsed. A worker that was killed, or froze past its lease, is found by
`release_expired` (the reconciler); its job goes back to the queue and the next claim raises the
attempt number, so the stale worker can no longer change or publish anything.

Retries after infrastructure failures wait (`not_before`, doubling per attempt); after
`max_attempts` claims the job fails instead. Timestamps are the runners' UTC clocks, so hosts
must keep time (NTP); a lease is many seconds long, far above ordinary skew.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from . import webhooks
from .models import Job, utcnow

INTERRUPTED_MESSAGE = "The conversion was interrupted too many times; upload the file again."


@dataclass(frozen=True)
class ClaimedJob:
    """What a runner needs to run one attempt of a job."""

    id: str
    attempt: int
    product_id: int
    sku: str
    upload_key: str
    settings: dict


def owner_name(suffix: str = "") -> str:
    """Who holds a lease, for operators reading the jobs table: host, process, optionally thread."""
    return f"{socket.gethostname()}:{os.getpid()}{':' + suffix if suffix else ''}"[:128]


def _due(now: datetime):
    return (Job.status == "queued") & or_(Job.not_before.is_(None), Job.not_before <= now)


def claim_next_job(session: Session, owner: str, lease_seconds: float) -> ClaimedJob | None:
    """Claim the oldest job that is due; None when nothing is. Safe when runners race."""
    while True:
        job_id = session.scalar(select(Job.id).where(_due(utcnow())).order_by(Job.created).limit(1))
        if job_id is None:
            return None
        claimed = claim_job(session, job_id, owner, lease_seconds)
        if claimed is not None:
            return claimed


def claim_job(session: Session, job_id: str, owner: str, lease_seconds: float) -> ClaimedJob | None:
    """Claim this job if it is queued and due; None if another runner has it, or it is done or gone."""
    now = utcnow()
    claimed = session.execute(
        update(Job)
        .where(Job.id == job_id, _due(now))
        .values(
            status="running",
            attempts=Job.attempts + 1,
            started=now,
            progress=0.0,
            lease_owner=owner,
            lease_expires=now + timedelta(seconds=lease_seconds),
        )
    )
    session.commit()
    if claimed.rowcount != 1:
        return None
    job = session.get(Job, job_id, populate_existing=True)
    return ClaimedJob(job.id, job.attempts, job.product_id, job.product.sku, job.upload.storage_key, job.settings)


def current_attempt(job: ClaimedJob):
    """Fencing: only the attempt that claimed the job, while its lease holds, may change it."""
    return (
        (Job.id == job.id)
        & (Job.status == "running")
        & (Job.attempts == job.attempt)
        & (Job.lease_expires > utcnow())
    )


def renew_lease(session: Session, job: ClaimedJob, lease_seconds: float) -> bool:
    """Extend the lease; False when it is lost (lapsed and released, re-run, or the job deleted)."""
    renewed = session.execute(
        update(Job).where(current_attempt(job)).values(lease_expires=utcnow() + timedelta(seconds=lease_seconds))
    )
    session.commit()
    return renewed.rowcount == 1


def set_progress(session: Session, job: ClaimedJob, progress: float) -> None:
    session.execute(update(Job).where(current_attempt(job)).values(progress=progress))
    session.commit()


def finish_failed(session: Session, job: ClaimedJob, code: str, message: str) -> None:
    """Fail the attempt's job (fenced) and record its `job.failed` webhooks in the same commit."""
    failed = session.execute(
        update(Job)
        .where(current_attempt(job))
        .values(
            status="failed",
            error_code=code,
            error_message=message[:500],
            finished=utcnow(),
            lease_owner=None,
            lease_expires=None,
        )
    )
    if failed.rowcount == 1:
        webhooks.emit_job_failed(session, [job.id])
    session.commit()


def requeue(session: Session, job: ClaimedJob, delay: float = 0.0, code: str | None = None, message: str = "") -> None:
    """Give a running attempt back to the queue, to run after `delay` seconds.

    With a code (an infrastructure failure), the job shows that error while it waits, so a client
    polling it sees "queued, last attempt failed with …" rather than nothing.
    """
    session.execute(
        update(Job)
        .where(current_attempt(job))
        .values(
            status="queued",
            progress=0.0,
            started=None,
            lease_owner=None,
            lease_expires=None,
            enqueued=None,
            not_before=utcnow() + timedelta(seconds=delay) if delay else None,
            error_code=code,
            error_message=message[:500] if code else None,
        )
    )
    session.commit()


def recover_interrupted(session: Session, max_attempts: int) -> tuple[int, int]:
    """In-process runner start-up: jobs left `running` by a previous process run again (or fail).

    Only for the one-process setup, where no other runner can be alive. Returns (requeued, failed).
    """
    return _release(session, Job.status == "running", max_attempts)


def release_expired(session: Session, max_attempts: int) -> tuple[int, int]:
    """Reconciler: jobs whose lease lapsed (their worker died) run again, or fail when out of attempts."""
    return _release(session, (Job.status == "running") & (Job.lease_expires < utcnow()), max_attempts)


def _release(session: Session, which, max_attempts: int) -> tuple[int, int]:
    cleared = {"lease_owner": None, "lease_expires": None}
    failed = session.scalars(
        update(Job)
        .where(which, Job.attempts >= max_attempts)
        .values(
            status="failed", error_code="INTERRUPTED", error_message=INTERRUPTED_MESSAGE, finished=utcnow(), **cleared
        )
        .returning(Job.id)
    ).all()
    webhooks.emit_job_failed(session, list(failed))
    requeued = session.execute(
        update(Job).where(which).values(status="queued", progress=0.0, started=None, enqueued=None, **cleared)
    ).rowcount
    session.commit()
    return requeued, len(failed)


def jobs_to_enqueue(session: Session, limit: int) -> list[tuple[str, int]]:
    """(job id, attempts so far) of due jobs not yet handed to the queue, oldest first."""
    query = select(Job.id, Job.attempts).where(_due(utcnow()), Job.enqueued.is_(None)).order_by(Job.created)
    return [tuple(row) for row in session.execute(query.limit(limit))]


def jobs_enqueued_before(session: Session, before: datetime, limit: int) -> list[tuple[str, int]]:
    """(job id, attempts) of due jobs handed to the queue before `before` and still not claimed."""
    query = select(Job.id, Job.attempts).where(_due(utcnow()), Job.enqueued < before).order_by(Job.enqueued)
    return [tuple(row) for row in session.execute(query.limit(limit))]


def mark_enqueued(session: Session, job_ids: list[str]) -> None:
    if job_ids:
        session.execute(
            update(Job).where(Job.id.in_(job_ids), Job.status == "queued").values(enqueued=utcnow())
        )
        session.commit()
