"""A product's history: its jobs, its published versions, re-processing and rollback.

- `GET /v1/products/{sku}/jobs`: every conversion of the product, newest first.
- `GET /v1/products/{sku}/versions`: every version ever published, newest first; the current one
  is marked `published` (only its files are served).
- `POST /v1/products/{sku}/versions/{id}/publish`: make an earlier version the published one again
  (rollback). Versions keep their files until the product is deleted (assets/gc.py), so this is
  one UPDATE, like publishing.
- `POST /v1/products/{sku}/reprocess`: convert the stored original again with new settings (a new
  budget, unit, axes, fit) and the product's current declared size; publishes a new version.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from assets import catalog, webhooks
from assets.models import Product, Version

from ..deps import BaseUrlDep, RunnerDep, SessionDep, SettingsDep, StorageDep, TenantDep
from ..errors import ApiError, not_found
from ..openapi import error_responses
from ..schemas import (
    MAX_DB_INTEGER,
    Assets,
    JobList,
    JobRef,
    MeasuredDimensions,
    ProductOut,
    ReprocessRequest,
    UploadAccepted,
    VersionList,
    VersionOut,
)
from ..urls import published_asset_urls
from .jobs import job_out
from .products import check_queue_room, conversion_settings, product_or_404, product_out, version_summary

router = APIRouter(prefix="/v1/products/{sku}", tags=["versions"])


@router.get("/jobs", response_model=JobList, response_model_exclude_none=True)
def list_jobs(
    sku: str, tenant: TenantDep, session: SessionDep, limit: int = Query(50, ge=1, le=500)
) -> JobList:
    product = product_or_404(session, tenant, sku)
    return JobList(jobs=[job_out(job) for job in catalog.product_jobs(session, product, limit)])


@router.get("/versions", response_model=VersionList, response_model_exclude_none=True)
def list_versions(
    sku: str,
    tenant: TenantDep,
    session: SessionDep,
    base_url: BaseUrlDep,
    storage: StorageDep,
    limit: int = Query(50, ge=1, le=500),
) -> VersionList:
    product = product_or_404(session, tenant, sku)
    versions = catalog.product_versions(session, product, limit)
    return VersionList(versions=[_version_out(product, v, base_url, storage) for v in versions])


@router.post("/versions/{version_id}/publish", response_model=ProductOut, response_model_exclude_none=True)
def publish_version(
    sku: str,
    version_id: Annotated[int, Path(ge=1, le=MAX_DB_INTEGER)],
    tenant: TenantDep,
    session: SessionDep,
    base_url: BaseUrlDep,
    storage: StorageDep,
) -> ProductOut:
    """Make this version the published one (a rollback, or forward again)."""
    product = product_or_404(session, tenant, sku)
    version = catalog.get_version(session, product, version_id)
    if version is None:
        raise not_found("Version")
    if product.published_version_id != version.id:
        product.published_version_id = version.id
        session.flush()
        session.refresh(product)
        webhooks.emit(session, tenant, "product.published", webhooks.product_data(sku, version.id))
        session.commit()
    return product_out(product, base_url, storage)


@router.post("/reprocess", status_code=202, response_model=UploadAccepted, responses=error_responses(409))
def reprocess(
    sku: str,
    body: ReprocessRequest,
    tenant: TenantDep,
    session: SessionDep,
    settings: SettingsDep,
    runner: RunnerDep,
) -> JSONResponse:
    """Convert the stored original again with these settings; answers 202 with the job to poll."""
    product = product_or_404(session, tenant, sku)
    check_queue_room(session, tenant, settings)
    upload = catalog.source_upload(session, product)
    if upload is None:
        raise ApiError(409, "NO_ORIGINAL", "This product has no uploaded model yet; upload one first.")
    previous = catalog.product_jobs(session, product, 1)
    previous_settings = previous[0].settings if previous else None
    job_settings = conversion_settings(product, body, settings, previous_settings)
    job = catalog.create_job(session, product, upload, job_settings, kind="reprocess")
    session.commit()
    runner.wake()
    accepted = UploadAccepted(job=JobRef(id=job.id, status="queued"))
    return JSONResponse(accepted.model_dump(), 202, headers={"Location": f"/v1/jobs/{job.id}"})


def _version_out(product: Product, version: Version, base_url: str, storage) -> VersionOut:
    published = product.published_version_id == version.id
    measured = version.manifest.get("dimensions_m")
    out = VersionOut(
        id=version.id,
        created=version.created,
        job_id=version.job_id,
        published=published,
        dimensions_m=MeasuredDimensions(**measured) if measured else None,
        summary=version_summary(product, version.manifest),
    )
    if published:
        out.assets = Assets(**published_asset_urls(product, base_url, storage))
    return out
