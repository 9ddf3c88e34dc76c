"""Very large originals straight to the bucket: a presigned PUT, then a call that starts the job.

    POST /v1/products/{sku}/uploads {filename, size}            → 201 {upload_id, url, headers, expires}
    PUT  <url> (the file's bytes, to S3, not to this API)
    POST /v1/products/{sku}/uploads/{upload_id}/job {unit?, …}  → 202 {job}

Only with S3 storage (a local store has no bucket to PUT to: use POST …/model). The object key
carries the tenant and sku (`uploads/direct/<tenant>/<sku>/<id>`), so a caller can only start a
job from an upload it was handed for that product, and nothing needs recording until the job
starts: an upload never completed is an orphan that `vitrine3d gc` removes after its grace
period. The signed URL fixes Content-Type and Content-Length, and starting the job checks the
stored object's size again (a store may not enforce signed headers). Starting twice returns the
same job (the upload id is the job's idempotency key).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from assets import catalog
from assets.models import Upload, utcnow
from assets.storage import Storage
from assets.storage_s3 import S3Storage

from ..deps import RunnerDep, SessionDep, SettingsDep, StorageDep, TenantDep
from ..errors import ApiError
from ..openapi import error_responses
from ..schemas import DirectUploadJob, DirectUploadOut, DirectUploadRequest, JobRef, UploadAccepted
from ..settings import AppSettings
from .products import check_queue_room, conversion_settings, product_or_404

router = APIRouter(prefix="/v1/products/{sku}/uploads", tags=["products"])

CONTENT_TYPE = "application/octet-stream"
UploadId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


@router.post("", status_code=201, response_model=DirectUploadOut, responses=error_responses(409, 413))
def start_direct_upload(
    sku: str, body: DirectUploadRequest, tenant: TenantDep, session: SessionDep, settings: SettingsDep, storage: StorageDep
) -> DirectUploadOut:
    """A presigned URL to PUT a very large original to; then start its job."""
    product_or_404(session, tenant, sku)
    bucket = _bucket_or_409(storage)
    if body.size > settings.max_direct_upload_bytes:
        raise ApiError(413, "UPLOAD_TOO_LARGE", f"The file is over the limit of {settings.max_direct_upload_bytes} bytes.")
    upload_id = catalog.new_id()
    seconds = settings.direct_upload_seconds
    url = bucket.presigned_put(_key(tenant, sku, upload_id), CONTENT_TYPE, seconds, size=body.size)
    headers = {"Content-Type": CONTENT_TYPE}
    return DirectUploadOut(upload_id=upload_id, url=url, headers=headers, expires=utcnow() + timedelta(seconds=seconds))


@router.post("/{upload_id}/job", status_code=202, response_model=UploadAccepted, responses=error_responses(409, 413))
async def start_job(
    sku: str,
    upload_id: UploadId,
    form: DirectUploadJob,
    tenant: TenantDep,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    runner: RunnerDep,
) -> JSONResponse:
    """Convert an original PUT to the bucket with the URL from POST …/uploads."""
    job_id, status = await run_in_threadpool(_queue, session, storage, settings, tenant, sku, upload_id, form)
    runner.wake()
    body = UploadAccepted(job=JobRef(id=job_id, status=status))
    return JSONResponse(body.model_dump(), 202, headers={"Location": f"/v1/jobs/{job_id}"})


def _queue(
    session: Session,
    storage: Storage,
    settings: AppSettings,
    tenant: str,
    sku: str,
    upload_id: str,
    form: DirectUploadJob,
) -> tuple[str, str]:
    product = product_or_404(session, tenant, sku)
    bucket = _bucket_or_409(storage)
    idempotency_key = f"direct:{upload_id}"
    if (earlier := catalog.job_for_idempotency_key(session, tenant, idempotency_key)) is not None:
        return earlier.id, earlier.status
    check_queue_room(session, tenant, settings)
    key = _key(tenant, sku, upload_id)
    size = bucket.size(key)
    if size is None:
        raise ApiError(404, "UPLOAD_NOT_FOUND", "No file was uploaded with this id; PUT it to the upload URL first.")
    if size > settings.max_direct_upload_bytes:
        bucket.delete(key)
        raise ApiError(413, "UPLOAD_TOO_LARGE", f"The file is over the limit of {settings.max_direct_upload_bytes} bytes.")
    sha256 = _sha256(bucket, key)
    upload = Upload(id=upload_id, product_id=product.id, storage_key=key, sha256=sha256, size=size, filename=form.filename)
    job_settings = conversion_settings(product, form, settings)
    try:
        job = catalog.create_job(session, product, upload, job_settings, idempotency_key=idempotency_key)
        session.commit()
    except IntegrityError:
        session.rollback()  # started twice at once: the other call's job is the answer
        earlier = catalog.job_for_idempotency_key(session, tenant, idempotency_key)
        if earlier is None:
            raise
        return earlier.id, earlier.status
    return job.id, job.status


def _bucket_or_409(storage: Storage) -> S3Storage:
    if not isinstance(storage, S3Storage):
        raise ApiError(409, "DIRECT_UPLOAD_UNAVAILABLE", "Direct uploads need S3 storage; POST the file to …/model instead.")
    return storage


def _key(tenant: str, sku: str, upload_id: str) -> str:
    return f"uploads/direct/{tenant}/{sku}/{upload_id}"


def _sha256(bucket: S3Storage, key: str) -> str:
    digest = hashlib.sha256()
    with bucket.open(key) as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
