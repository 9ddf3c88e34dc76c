"""/v1/jobs/{id}: where an upload's conversion stands (queued, running, succeeded, failed)."""

from __future__ import annotations

from fastapi import APIRouter

from assets import catalog

from ..deps import SessionDep, TenantDep
from ..errors import not_found
from assets.models import Job

from ..schemas import ErrorDetail, JobOut

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobOut, response_model_exclude_none=True)
def get_job(job_id: str, tenant: TenantDep, session: SessionDep) -> JobOut:
    job = catalog.get_job(session, tenant, job_id)
    if job is None:
        raise not_found("Job")
    return job_out(job)


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        sku=job.product.sku,
        status=job.status,
        kind=job.kind,
        progress=job.progress,
        error=job_error(job),
        created=job.created,
        started=job.started,
        finished=job.finished,
    )


def job_error(job: Job) -> ErrorDetail | None:
    return ErrorDetail(code=job.error_code, message=job.error_message or "") if job.error_code else None
