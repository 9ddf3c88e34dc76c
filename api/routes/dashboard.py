"""/dashboard: the catalog team's pages (a product list to find the SKUs that look wrong, and
one page per product to inspect, re-process and roll back).

The routes only serve shells (viewer/dashboard.py): they need no key, because they show
nothing until static/dashboard.js has a key from the login form and asks the JSON API. What
they do know is where published files are read from, so the page's CSP can let the posters,
models and reports in from there and from nowhere else.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from assets.storage import Storage, object_key
from viewer.dashboard import dashboard_headers, render_dashboard_page, render_dashboard_product_page

from ..deps import BaseUrlDep, StorageDep
from ..errors import not_found
from ..schemas import SKU_PATTERN
from ..urls import absolute_url

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

# Any object key: published files share one origin (this service, a bucket or a CDN).
_PROBE_KEY = object_key("0" * 64, "glb")


def _headers(storage: Storage, base_url: str) -> dict[str, str]:
    return dashboard_headers([absolute_url(base_url, storage.url(_PROBE_KEY))])


@router.get("", response_class=HTMLResponse)
def dashboard(storage: StorageDep, base_url: BaseUrlDep) -> HTMLResponse:
    return HTMLResponse(render_dashboard_page(), headers=_headers(storage, base_url))


@router.get("/products/{sku}", response_class=HTMLResponse)
def dashboard_product(sku: str, storage: StorageDep, base_url: BaseUrlDep) -> HTMLResponse:
    # Whether the product exists is the API's to say (it needs the key); a SKU that cannot
    # exist is refused here.
    if not re.fullmatch(SKU_PATTERN, sku):
        raise not_found("Product")
    return HTMLResponse(render_dashboard_product_page(sku), headers=_headers(storage, base_url))
