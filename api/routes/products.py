"""/v1/products: the tenant's catalog, and uploading a product's model.

An upload is received (streamed and checked, see api/uploads.py), stored as the product's
original under a server-made key, and queued as a job; the response is 202 with the job to poll.
The conversion settings are fixed at that moment (declared dimensions, placement, form fields,
limits) and stored with the job, so the run can be reproduced.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from assets import catalog
from assets.models import Product, Upload
from assets.storage import Storage
from processing.settings import Dimensions, Settings

from ..deps import BaseUrlDep, RunnerDep, SessionDep, SettingsDep, StorageDep, TenantDep
from ..errors import ApiError, not_found
from ..schemas import (
    Assets,
    DeclaredDimensions,
    Engagement,
    JobRef,
    MeasuredDimensions,
    ModelUploadForm,
    ProductCreate,
    ProductList,
    ProductOut,
    ProductUpdate,
    StorefrontFields,
    UploadAccepted,
)
from ..settings import AppSettings
from ..uploads import ReceivedFile, receive_upload
from ..urls import published_asset_urls, view_path

router = APIRouter(prefix="/v1/products", tags=["products"])


@router.post("", status_code=201, response_model=ProductOut, response_model_exclude_none=True)
def create_product(
    body: ProductCreate, tenant: TenantDep, session: SessionDep, base_url: BaseUrlDep, storage: StorageDep
) -> ProductOut:
    product = Product(tenant=tenant, sku=body.sku, name=body.name, placement=body.placement)
    _set_storefront(product, body)
    if body.dimensions is not None:
        dims = body.dimensions
        product.width, product.height, product.depth, product.unit = dims.width, dims.height, dims.depth, dims.unit
    try:
        catalog.create_product(session, product)
    except catalog.DuplicateSku:
        raise ApiError(409, "SKU_EXISTS", f"A product with sku '{body.sku}' already exists.") from None
    session.commit()
    return product_out(product, base_url, storage)


@router.get("", response_model=ProductList, response_model_exclude_none=True)
def list_products(
    tenant: TenantDep,
    session: SessionDep,
    base_url: BaseUrlDep,
    storage: StorageDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> ProductList:
    products = catalog.list_products(session, tenant, limit, offset)
    totals = catalog.event_totals(session, [p.id for p in products], ("view", "ar_button_shown", "ar_launched"))
    return ProductList(
        products=[product_out(p, base_url, storage, engagement(totals.get(p.id, {}))) for p in products]
    )


@router.get("/{sku}", response_model=ProductOut, response_model_exclude_none=True)
def get_product(
    sku: str, tenant: TenantDep, session: SessionDep, base_url: BaseUrlDep, storage: StorageDep
) -> ProductOut:
    return product_out(_product_or_404(session, tenant, sku), base_url, storage)


@router.patch("/{sku}", response_model=ProductOut, response_model_exclude_none=True)
def update_product(
    sku: str, body: ProductUpdate, tenant: TenantDep, session: SessionDep, base_url: BaseUrlDep, storage: StorageDep
) -> ProductOut:
    """Change the name or the storefront fields (price, call_to_action, title, link, locale...)."""
    product = _product_or_404(session, tenant, sku)
    if "name" in body.model_fields_set and body.name is None:
        raise ApiError(422, "VALIDATION_ERROR", "Invalid request: name: a product needs a name")
    _set_storefront(product, body)
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
    originals = catalog.delete_product(session, _product_or_404(session, tenant, sku))
    session.commit()
    for key in originals:
        storage.delete(key)
    return Response(status_code=204)


@router.post(
    "/{sku}/model",
    status_code=202,
    response_model=UploadAccepted,
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
) -> JSONResponse:
    """Upload the product's 3D file (multipart field `file`); answers 202 with the conversion job."""
    # Unknown products are refused before a single body byte is read.
    if await run_in_threadpool(catalog.get_product, session, tenant, sku) is None:
        raise not_found("Product")
    received = await receive_upload(request, settings.data_dir / "incoming", settings.max_upload_bytes)
    try:
        form = _parse_form(received.fields)
        job_id = await run_in_threadpool(_enqueue, session, storage, settings, tenant, sku, received, form)
    finally:
        received.path.unlink(missing_ok=True)
    runner.wake()
    body = UploadAccepted(job=JobRef(id=job_id, status="queued"))
    return JSONResponse(body.model_dump(), 202, headers={"Location": f"/v1/jobs/{job_id}"})


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
) -> str:
    """Store the original and queue its conversion; returns the job id."""
    product = _product_or_404(session, tenant, sku)  # again: it may have been deleted meanwhile
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
    try:
        job = catalog.create_job(session, product, upload, _conversion_settings(product, form, settings))
        session.commit()
    except BaseException:
        storage.delete(upload.storage_key)
        raise
    return job.id


def _conversion_settings(product: Product, form: ModelUploadForm, settings: AppSettings) -> dict:
    dimensions = None
    if product.width is not None:
        dimensions = Dimensions(width=product.width, height=product.height, depth=product.depth, unit=product.unit)
    chosen = {"unit": form.unit, "dimensions": dimensions, "placement": product.placement, "limits": settings.limits}
    if form.max_triangles is not None:
        chosen["max_triangles"] = form.max_triangles
    # Pose and catalog matching (issue 5): only what the uploader chose, so defaults stay in Settings.
    chosen |= {key: value for key, value in (("up_axis", form.up_axis), ("front", form.front), ("fit", form.fit),
                                             ("dimension_tolerance", form.tolerance)) if value is not None}
    return Settings(**chosen).model_dump(mode="json")


def _product_or_404(session: Session, tenant: str, sku: str) -> Product:
    product = catalog.get_product(session, tenant, sku)
    if product is None:
        raise not_found("Product")
    return product


def product_out(
    product: Product, base_url: str, storage: Storage, engagement: Engagement | None = None
) -> ProductOut:
    out = ProductOut(sku=product.sku, name=product.name, placement=product.placement, created=product.created)
    for field in StorefrontFields.model_fields:
        setattr(out, field, getattr(product, field))
    out.engagement = engagement
    if product.width is not None:
        out.dimensions = DeclaredDimensions(
            width=product.width, height=product.height, depth=product.depth, unit=product.unit
        )
    urls = published_asset_urls(product, base_url, storage)
    if urls is not None:
        out.assets = Assets(**urls)
        measured = product.published_version.manifest.get("dimensions_m")
        out.dimensions_m = MeasuredDimensions(**measured) if measured else None
        out.view_url = base_url + view_path(product.tenant, product.sku)
    return out
