"""/view/<sku>: the public viewer page of a published product (no API key).

Pages are addressed without a key, so the tenant must come from the URL: `/view/<sku>` is the
default tenant's product (the one-catalog setup of the README), `/view/<tenant>/<sku>` any
tenant's. A product that does not exist or is not published yet gets the viewer's 404 page.
Every page goes out with the viewer's security headers (viewer/security.py), whose
frame-ancestors come from the tenant's allowed storefront origins.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.orm import Session

from assets import catalog
from assets.models import Product
from assets.storage import Storage
from viewer.pages import ViewerProduct, render_not_found_page, render_view_page
from viewer.security import page_headers

from ..deps import BaseUrlDep, SessionDep, StorageDep, _bearer, caller_access
from ..errors import not_found
from ..schemas import TENANT_PATTERN
from ..urls import published_asset_urls

router = APIRouter(tags=["public"])

# Shoppers who follow a stale link get the viewer's page saying so, not a JSON error.
NOT_FOUND_PAGE = {
    404: {
        "description": "No published product: the viewer's not-found page.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}


@router.get("/view/{sku}", response_class=HTMLResponse, responses=NOT_FOUND_PAGE)
def view_default_tenant(sku: str, session: SessionDep, storage: StorageDep, base_url: BaseUrlDep) -> HTMLResponse:
    return _view(catalog.DEFAULT_TENANT, sku, session, storage, base_url)


@router.get("/view/{tenant}/{sku}", response_class=HTMLResponse, responses=NOT_FOUND_PAGE)
def view(tenant: str, sku: str, session: SessionDep, storage: StorageDep, base_url: BaseUrlDep) -> HTMLResponse:
    return _view(tenant, sku, session, storage, base_url)


def _view(tenant: str, sku: str, session: Session, storage: Storage, base_url: str) -> HTMLResponse:
    product = catalog.published_product(session, tenant, sku)
    if product is None:
        return not_found_page(sku)
    shown = viewer_product(product, base_url, storage)
    return HTMLResponse(render_view_page(shown), headers=viewer_headers(session, shown))


def not_found_page(sku: str) -> HTMLResponse:
    return HTMLResponse(
        render_not_found_page(sku), status_code=404, headers=page_headers(frame_ancestors=[], asset_urls=[])
    )


def viewer_headers(session: Session, shown: ViewerProduct) -> dict[str, str]:
    return page_headers(
        frame_ancestors=catalog.allowed_origins(session, shown.tenant),
        asset_urls=[shown.glb_url, shown.web_glb_url, shown.usdz_url, shown.poster_url],
    )


def _public_tenant(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    tenant: Annotated[
        str | None, Query(pattern=TENANT_PATTERN, description="Without an API key: whose product.")
    ] = None,
) -> str:
    """The tenant of a public /v1 read: the API key's when one is sent, else `?tenant=` (default
    tenant if absent). These reads only ever show published products, which are public anyway."""
    if credentials is not None:
        return caller_access(request, session, credentials).tenant
    return tenant or catalog.DEFAULT_TENANT


PublicTenantDep = Annotated[str, Depends(_public_tenant)]


def published_or_404(session: Session, tenant: str, sku: str) -> Product:
    product = catalog.published_product(session, tenant, sku)
    if product is None:
        raise not_found("Published product")
    return product


def tenant_query(tenant: str) -> str:
    """The query that names a tenant on public /v1 URLs (none for the default tenant)."""
    return "" if tenant == catalog.DEFAULT_TENANT else f"?tenant={quote(tenant, safe='')}"


def viewer_product(product: Product, base_url: str, storage: Storage) -> ViewerProduct:
    """What the viewer needs to show a published `product`, with absolute URLs."""
    urls = published_asset_urls(product, base_url, storage)
    manifest = product.published_version.manifest
    return ViewerProduct(
        tenant=product.tenant,
        sku=product.sku,
        name=product.name,
        placement=product.placement,
        glb_url=urls["glb"],
        usdz_url=urls["usdz"],
        web_glb_url=urls.get("glb_web") if manifest.get("web_textures") == "webp" else None,
        poster_url=urls.get("poster"),
        events_url=f"{base_url}/v1/events",
        qr_url=f"{base_url}/v1/products/{product.sku}/qr.svg{tenant_query(product.tenant)}",
        dimensions_m=manifest.get("dimensions_m"),
        price=product.price,
        call_to_action=product.call_to_action,
        checkout_title=product.checkout_title,
        checkout_subtitle=product.checkout_subtitle,
        title=product.title,
        link=product.link,
        locale=product.locale,
    )
