"""/v1/products/{sku}/qr.svg and .png: a QR code of the product's viewer page.

The desktop viewer page shows it ("View in your room": scan, and the same page opens on the
phone, where AR works); catalogues and showroom signs print it. Public for published products
(tenant from the API key or `?tenant=`), like the page it points to. The code only ever encodes
the page URL this service builds (viewer/qr.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from viewer.qr import PNG_SCALE, qr_png, qr_svg

from ..deps import BaseUrlDep, SessionDep
from ..urls import view_path
from .pages import PublicTenantDep, published_or_404

router = APIRouter(prefix="/v1/products", tags=["embed"])

# The code changes only if the page URL does (never for a given product): cache for a day.
HEADERS = {
    "Cache-Control": "public, max-age=86400",
    "Access-Control-Allow-Origin": "*",
    "X-Content-Type-Options": "nosniff",
}
QR_RESPONSE = {"description": "A QR code of the viewer page."}


@router.get(
    "/{sku}/qr.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}, **QR_RESPONSE}}
)
def qr_code_svg(sku: str, tenant: PublicTenantDep, session: SessionDep, base_url: BaseUrlDep) -> Response:
    product = published_or_404(session, tenant, sku)
    svg = qr_svg(base_url + view_path(tenant, sku), title=f"QR code: {product.name} in 3D")
    # A CSP on the SVG itself: opened directly, it can run nothing.
    headers = {**HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    return Response(svg, media_type="image/svg+xml", headers=headers)


@router.get("/{sku}/qr.png", response_class=Response, responses={200: {"content": {"image/png": {}}, **QR_RESPONSE}})
def qr_code_png(
    sku: str,
    tenant: PublicTenantDep,
    session: SessionDep,
    base_url: BaseUrlDep,
    scale: Annotated[int, Query(ge=PNG_SCALE[0], le=PNG_SCALE[2], description="Pixels per module.")] = PNG_SCALE[1],
) -> Response:
    published_or_404(session, tenant, sku)
    return Response(qr_png(base_url + view_path(tenant, sku), scale), media_type="image/png", headers=HEADERS)
