"""/view/<sku>: the public viewer page of a published product (no API key).

Pages are addressed without a key, so the tenant must come from the URL: `/view/<sku>` is the
default tenant's product (the one-catalog setup of the README), `/view/<tenant>/<sku>` any
tenant's. A product that does not exist or is not published yet gets the viewer's 404 page.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from assets import catalog
from viewer.pages import render_not_found_page, render_view_page

from ..deps import BaseUrlDep, SessionDep, StorageDep
from ..urls import published_asset_urls

router = APIRouter(tags=["public"])


@router.get("/view/{sku}", response_class=HTMLResponse)
def view_default_tenant(sku: str, session: SessionDep, storage: StorageDep, base_url: BaseUrlDep) -> HTMLResponse:
    return _view(catalog.DEFAULT_TENANT, sku, session, storage, base_url)


@router.get("/view/{tenant}/{sku}", response_class=HTMLResponse)
def view(tenant: str, sku: str, session: SessionDep, storage: StorageDep, base_url: BaseUrlDep) -> HTMLResponse:
    return _view(tenant, sku, session, storage, base_url)


def _view(tenant: str, sku: str, session, storage, base_url: str) -> HTMLResponse:
    product = catalog.published_product(session, tenant, sku)
    if product is None:
        return HTMLResponse(render_not_found_page(sku), status_code=404)
    urls = published_asset_urls(product, base_url, storage)
    page = render_view_page(
        name=product.name, sku=product.sku, glb_url=urls["glb"], usdz_url=urls["usdz"], placement=product.placement
    )
    return HTMLResponse(page)
