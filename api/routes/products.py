"""/v1/products: the tenant's catalog, and uploading a product's model.

An upload is received (streamed and checked, see api/uploads.py), stored as the product's
original under a server-made key, and queued as a job; the response is 202 with the job to poll.
The conversion settings are fixed at that moment (declared dimensions, placement, form fields,
limits) and stored with the job, so the run can be reproduced.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from assets import catalog
from assets.models import Job, Product, Upload
from assets.storage import Storage
from processing.settings import METRES_PER_UNIT, Dimensions, Settings

from ..deps import BaseUrlDep, RunnerDep, SessionDep, SettingsDep, StorageDep, TenantDep
from ..errors import ApiError, not_found
from ..openapi import error_responses
from ..schemas import (
    MAX_DB_INTEGER,
    Assets,
    DeclaredDimensions,
    Engagement,
    JobRef,
    JobSummary,
    MeasuredDimensions,
    ModelUploadForm,
    ProductCreate,
    ProductList,
    ProductOut,
    ProductUpdate,
    SourceFile,
    StorefrontFields,
    UploadAccepted,
    VersionSummary,
)
from ..settings import AppSettings
from ..uploads import ReceivedFile, receive_upload
from ..urls import published_asset_urls, view_path
from .jobs import job_error

router = APIRouter(prefix="/v1/products", tags=["products"])

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"  # printable ASCII, no spaces


@router.post(
    "", status_code=201, response_model=ProductOut, response_model_exclude_none=True, responses=error_responses(409)
)
def create_product(
    body: ProductCreate, tenant: TenantDep, session: SessionDep, base_url: BaseUrlDep, storage: StorageDep
) -> ProductOut:
    product = Product(tenant=tenant, sku=body.sku, name=body.name, placement=body.placement)
    _set_storefront(product, body)
    _set_dimensions(product, body.dimensions)
    try:
        catalog.create_product(session, product)
    except catalog.DuplicateSku:
        raise ApiError(409, "SKU_EXISTS", f"A product with sku '{body.sku}' already exists.") from None
    session.commit()
    return product_out(product, base_url, storage)


def _set_dimensions(product: Product, dims: DeclaredDimensions | None) -> None:
    product.width, product.height, product.depth, product.unit = (
        (dims.width, dims.height, dims.depth, dims.unit) if dims is not None else (None, None, None, None)
    )


@router.get("", response_model=ProductList, response_model_exclude_none=True)
def list_products(
    tenant: TenantDep,
    session: SessionDep,
    base_url: BaseUrlDep,
    storage: StorageDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_DB_INTEGER),
) -> ProductList:
    products = catalog.list_products(session, tenant, limit, offset)
    ids = [p.id for p in products]
    totals = catalog.event_totals(session, ids, ("view", "ar_button_shown", "ar_launched"))
    jobs, sources = catalog.latest_jobs(session, ids), catalog.published_sources(session, ids)
    return ProductList(
        products=[
            product_out(p, base_url, storage, engagement(totals.get(p.id, {})), jobs.get(p.id), sources.get(p.id))
            for p in products
        ]
    )


@router.get("/{sku}", response_model=ProductOut, response_model_exclude_none=True)
def get_product(
    sku: str, tenant: TenantDep, session: SessionDep, base_url: BaseUrlDep, storage: StorageDep
) -> ProductOut:
    product = product_or_404(session, tenant, sku)
    job = catalog.latest_jobs(session, [product.id]).get(product.id)
    source = catalog.published_sources(session, [product.id]).get(product.id)
    return product_out(product, base_url, storage, latest_job=job, source=source)


@router.patch("/{sku}", response_model=ProductOut, response_model_exclude_none=True)
def update_product(
    sku: str, body: ProductUpdate, tenant: TenantDep, session: SessionDep, base_url: BaseUrlDep, storage: StorageDep
) -> ProductOut:
    """Change the name, storefront fields (price, call_to_action, title, link, locale...), declared
    dimensions or placement; the last two apply from the next conversion on."""
    product = product_or_404(session, tenant, sku)
    for required in ("name", "placement"):
        if required in body.model_fields_set and getattr(body, required) is None:
            raise ApiError(422, "VALIDATION_ERROR", f"Invalid request: {required}: a product needs a {required}")
    _set_storefront(product, body)
    if "placement" in body.model_fields_set:
        product.placement = body.placement
    if "dimensions" in body.model_fields_set:
        _set_dimensions(product, body.dimensions)
    session.commit()
    return product_out(product, base_url, storage)


def _set_storefront(product: Product, body: StorefrontFields) -> None:
    for field in body.model_fields_set & (set(StorefrontFields.model_fields) | {"name"}):
        setattr(product, field, getattr(body, field))


def engagement(totals: dict[str, int]) -> Engagement:
    shown = totals.get("ar_button_shown", 0)
    launches = totals.get("ar_launched", 0)
    rate = round(launches / shown, 4) if shown else None
    return Engagement(views=totals.get("view", 0), ar_button_shown=shown, ar_launches=launches, ar_launch_rate=rate)


@router.delete("/{sku}", status_code=204)
def delete_product(sku: str, tenant: TenantDep, session: SessionDep, storage: StorageDep) -> Response:
    originals = catalog.delete_product(session, product_or_404(session, tenant, sku))
    session.commit()
    for key in originals:
        storage.delete(key)
    return Response(status_code=204)


@router.post(
    "/{sku}/model",
    status_code=202,
    response_model=UploadAccepted,
    responses=error_responses(408, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            **ModelUploadForm.model_json_schema()["properties"],
                        },
                    }
                }
            },
        }
    },
)
async def upload_model(
    sku: str,
    request: Request,
    tenant: TenantDep,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    runner: RunnerDep,
    idempotency_key: Annotated[str | None, Header(max_length=128, pattern=IDEMPOTENCY_KEY_PATTERN)] = None,
) -> JSONResponse:
    """Upload the product's 3D file (multipart field `file`); answers 202 with the conversion job.

    With an `Idempotency-Key` header, a repeated upload (a client retrying after a lost answer)
    gets the job of the first one, and nothing new is stored.
    """
    # Unknown products and repeated keys are answered before a single body byte is read.
    if await run_in_threadpool(catalog.get_product, session, tenant, sku) is None:
        raise not_found("Product")
    if idempotency_key and (earlier := await run_in_threadpool(_earlier_job, session, tenant, sku, idempotency_key)):
        return _accepted(earlier.id, earlier.status)
    await run_in_threadpool(check_queue_room, session, tenant, settings)
    received = await receive_upload(
        request,
        settings.data_dir / "incoming",
        settings.max_upload_bytes,
        settings.upload_idle_seconds,
        settings.upload_max_seconds,
    )
    try:
        form = _parse_form(received.fields)
        job_id = await run_in_threadpool(
            _enqueue, session, storage, settings, tenant, sku, received, form, idempotency_key
        )
    finally:
        received.path.unlink(missing_ok=True)
    runner.wake()
    return _accepted(job_id, "queued")


def _accepted(job_id: str, status: str) -> JSONResponse:
    body = UploadAccepted(job=JobRef(id=job_id, status=status))
    return JSONResponse(body.model_dump(), 202, headers={"Location": f"/v1/jobs/{job_id}"})


QUEUE_FULL_RETRY_SECONDS = 30


def check_queue_room(session: Session, tenant: str, settings: AppSettings) -> None:
    """Refuse new work (429) while the tenant already has its maximum of jobs waiting."""
    if catalog.queued_jobs(session, tenant) >= settings.max_queued_jobs_per_tenant:
        raise ApiError(
            429,
            "QUEUE_FULL",
            f"{settings.max_queued_jobs_per_tenant} of your jobs are already waiting; retry when some have run.",
            {"Retry-After": str(QUEUE_FULL_RETRY_SECONDS)},
        )


def _earlier_job(session: Session, tenant: str, sku: str, key: str) -> Job | None:
    job = catalog.job_for_idempotency_key(session, tenant, key)
    if job is not None and job.product.sku != sku:
        raise ApiError(422, "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was used for another product's upload.")
    return job


def _parse_form(fields: dict[str, str]) -> ModelUploadForm:
    try:
        return ModelUploadForm.model_validate(fields)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def _enqueue(
    session: Session,
    storage: Storage,
    settings: AppSettings,
    tenant: str,
    sku: str,
    received: ReceivedFile,
    form: ModelUploadForm,
    idempotency_key: str | None,
) -> str:
    """Store the original and queue its conversion; returns the job id (an earlier one for a repeated key)."""
    product = product_or_404(session, tenant, sku)  # again: it may have been deleted meanwhile
    upload_id = catalog.new_id()
    upload = Upload(
        id=upload_id,
        product_id=product.id,
        storage_key=f"uploads/{upload_id}",
        sha256=received.sha256,
        size=received.size,
        filename=received.filename,
    )
    storage.put(upload.storage_key, received.path, "application/octet-stream")
    job_settings = conversion_settings(product, form, settings)
    try:
        job = catalog.create_job(session, product, upload, job_settings, idempotency_key=idempotency_key)
        session.commit()
    except IntegrityError:
        # The same key arrived twice at once and the other request committed first: its job is the answer.
        session.rollback()
        storage.delete(upload.storage_key)
        earlier = _earlier_job(session, tenant, sku, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return earlier.id
    except BaseException:
        storage.delete(upload.storage_key)
        raise
    return job.id


def conversion_settings(
    product: Product, form: ModelUploadForm, settings: AppSettings, previous: dict | None = None
) -> dict:
    """The Settings of a conversion: the product's declared size and placement, the server's limits, the
    uploader's choices, and (when re-processing) the previous run's choices for what was not given."""
    dimensions = None
    if product.width is not None:
        dimensions = Dimensions(width=product.width, height=product.height, depth=product.depth, unit=product.unit)
    kept = {key: previous[key] for key in _UPLOADER_CHOICES if previous and key in previous}
    chosen = kept | {"dimensions": dimensions, "placement": product.placement, "limits": settings.limits}
    if form.unit is not None or "unit" not in chosen:
        chosen["unit"] = form.unit
    if form.max_triangles is not None:
        chosen["max_triangles"] = form.max_triangles
    # Pose and catalog matching (issue 5): only what the uploader chose, so defaults stay in Settings.
    chosen |= {key: value for key, value in (("up_axis", form.up_axis), ("front", form.front), ("fit", form.fit),
                                             ("dimension_tolerance", form.tolerance),
                                             ("web_textures", form.web_textures),
                                             ("max_texture_memory_mib", form.max_texture_memory_mib),
                                             ("optimize_vertices", form.optimize_vertices)) if value is not None}
    return Settings(**chosen).model_dump(mode="json")


_UPLOADER_CHOICES = ("unit", "max_triangles", "up_axis", "front", "fit", "dimension_tolerance", "web_textures",
                     "max_texture_memory_mib", "optimize_vertices")


def product_or_404(session: Session, tenant: str, sku: str) -> Product:
    product = catalog.get_product(session, tenant, sku)
    if product is None:
        raise not_found("Product")
    return product


def product_out(
    product: Product,
    base_url: str,
    storage: Storage,
    engagement: Engagement | None = None,
    latest_job: Job | None = None,
    source: Upload | None = None,
) -> ProductOut:
    out = ProductOut(sku=product.sku, name=product.name, placement=product.placement, created=product.created)
    for field in StorefrontFields.model_fields:
        setattr(out, field, getattr(product, field))
    out.engagement = engagement
    if product.width is not None:
        out.dimensions = DeclaredDimensions(
            width=product.width, height=product.height, depth=product.depth, unit=product.unit
        )
    if latest_job is not None:
        out.latest_job = JobSummary(
            id=latest_job.id,
            status=latest_job.status,
            kind=latest_job.kind,
            error=job_error(latest_job),
            created=latest_job.created,
        )
    if source is not None:
        out.source = SourceFile(sha256=source.sha256, filename=source.filename, size=source.size)
    urls = published_asset_urls(product, base_url, storage)
    if urls is not None:
        version = product.published_version
        out.assets = Assets(**urls)
        out.version = version.id
        measured = version.manifest.get("dimensions_m")
        out.dimensions_m = MeasuredDimensions(**measured) if measured else None
        out.summary = version_summary(product, version.manifest)
        out.view_url = base_url + view_path(product.tenant, product.sku)
    return out


def version_summary(product: Product, manifest: dict) -> VersionSummary | None:
    """The summary a version's manifest carries (older manifests have none), and whether its measured
    size still matches the product's declared one."""
    summary = manifest.get("summary")
    if summary is None:
        return None
    return VersionSummary(**summary, dimension_mismatch=_mismatch(product, manifest.get("dimensions_m")))


DIMENSION_TOLERANCE = Settings.model_fields["dimension_tolerance"].default


def _mismatch(product: Product, measured: dict | None) -> bool:
    if product.width is None or not measured:
        return False
    k = METRES_PER_UNIT[product.unit]
    declared = {"width": product.width * k, "height": product.height * k, "depth": product.depth * k}
    return any(abs(measured[axis] - size) > DIMENSION_TOLERANCE * size for axis, size in declared.items())
