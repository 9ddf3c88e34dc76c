"""Embedding a product in a storefront: snippets, the chromeless /embed page, oEmbed, and the
tenant's list of storefront origins allowed to frame the viewer.

- `GET /v1/products/{sku}/embed`: a web-component snippet (our scripts + `<model-viewer>` with
  absolute URLs) and an iframe snippet of `/embed/{sku}`. Public for published products (the
  tenant comes from the API key or `?tenant=`), CORS open, so a storefront's own tooling can
  fetch it.
- `GET /oembed?url=…`: oEmbed 1.0 (type "rich") for a viewer or embed URL of this service, so
  CMSs and storefront builders embed by pasting the page URL. JSON only (XML is 501, as the
  spec says for an unsupported format); URLs that are not ours are 404.
- `GET/PUT /v1/settings/embedding`: the origins whose pages may frame the viewer; they become
  the pages' CSP `frame-ancestors`. Everyone else's frame is refused by the browser.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, field_validator

from assets import catalog
from viewer.pages import EMBED_SIZE, iframe_snippet, render_embed_page, web_component_snippet

from ..deps import AdminTenantDep, BaseUrlDep, SessionDep, StorageDep
from ..errors import ApiError, not_found
from ..openapi import error_responses
from ..schemas import SKU_PATTERN, TENANT_PATTERN
from ..urls import view_path
from .pages import NOT_FOUND_PAGE, PublicTenantDep, not_found_page, published_or_404, viewer_headers, viewer_product

router = APIRouter(tags=["embed"])

CORS = {"Access-Control-Allow-Origin": "*"}
MAX_ORIGINS = 50
ORIGIN_PATTERN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
OEMBED_CACHE_SECONDS = 3600


def embed_path(tenant: str, sku: str) -> str:
    return view_path(tenant, sku).replace("/view/", "/embed/", 1)


class EmbedOut(BaseModel):
    view_url: str
    embed_url: str
    poster: str | None = None
    web_component: str = Field(description="Paste into a page: loads our bundle and shows the model.")
    iframe: str = Field(description="Paste into a page: frames /embed/<sku> (the origin must be allowed).")
    oembed_url: str


class EmbeddingSettings(BaseModel):
    allowed_origins: list[str] = Field(
        max_length=MAX_ORIGINS,
        description="Storefront origins allowed to frame the viewer, e.g. https://shop.example.",
        examples=[["https://shop.example", "https://www.shop.example"]],
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        cleaned = []
        for origin in origins:
            origin = origin.strip().lower().rstrip("/")
            if not ORIGIN_PATTERN.fullmatch(origin):
                raise ValueError("each origin is scheme://host[:port], with no path, e.g. https://shop.example")
            cleaned.append(origin)
        return sorted(set(cleaned))


@router.get("/v1/products/{sku}/embed", response_model=EmbedOut)
def embed_snippets(
    sku: str, tenant: PublicTenantDep, session: SessionDep, storage: StorageDep, base_url: BaseUrlDep
) -> JSONResponse:
    product = published_or_404(session, tenant, sku)
    shown = viewer_product(product, base_url, storage)
    view_url = base_url + view_path(tenant, sku)
    embed_url = base_url + embed_path(tenant, sku)
    body = EmbedOut(
        view_url=view_url,
        embed_url=embed_url,
        poster=shown.poster_url,
        web_component=web_component_snippet(shown, base_url),
        iframe=iframe_snippet(embed_url, product.name),
        oembed_url=f"{base_url}/oembed?url={quote(view_url, safe='')}",
    )
    return JSONResponse(body.model_dump(exclude_none=True), headers=CORS)


@router.get("/embed/{sku}", response_class=HTMLResponse, tags=["public"], responses=NOT_FOUND_PAGE)
def embed_default_tenant(sku: str, session: SessionDep, storage: StorageDep, base_url: BaseUrlDep) -> HTMLResponse:
    return _embed(catalog.DEFAULT_TENANT, sku, session, storage, base_url)


@router.get("/embed/{tenant}/{sku}", response_class=HTMLResponse, tags=["public"], responses=NOT_FOUND_PAGE)
def embed(tenant: str, sku: str, session: SessionDep, storage: StorageDep, base_url: BaseUrlDep) -> HTMLResponse:
    return _embed(tenant, sku, session, storage, base_url)


def _embed(tenant: str, sku: str, session, storage, base_url: str) -> HTMLResponse:
    product = catalog.published_product(session, tenant, sku)
    if product is None:
        return not_found_page(sku)
    shown = viewer_product(product, base_url, storage)
    return HTMLResponse(render_embed_page(shown), headers=viewer_headers(session, shown))


@router.get("/oembed", tags=["public"], responses=error_responses(404, 501))
def oembed(
    session: SessionDep,
    storage: StorageDep,
    base_url: BaseUrlDep,
    url: Annotated[str, Query(max_length=2000, description="A /view or /embed URL of this service.")],
    maxwidth: Annotated[int | None, Query(ge=50, le=10_000)] = None,
    maxheight: Annotated[int | None, Query(ge=50, le=10_000)] = None,
    format: Literal["json", "xml"] = "json",
) -> JSONResponse:
    if format != "json":
        raise ApiError(501, "FORMAT_NOT_SUPPORTED", "Only the json oEmbed format is served.")
    tenant, sku = _product_of_url(url, base_url)
    product = published_or_404(session, tenant, sku)
    shown = viewer_product(product, base_url, storage)
    width, height = _fit(EMBED_SIZE, maxwidth, maxheight)
    body = {
        "version": "1.0",
        "type": "rich",
        "provider_name": "Vitrine3D",
        "provider_url": base_url + "/",
        "title": product.name,
        "html": iframe_snippet(base_url + embed_path(tenant, sku), product.name, width, height),
        "width": width,
        "height": height,
        "cache_age": OEMBED_CACHE_SECONDS,
    }
    if shown.poster_url:
        body |= {"thumbnail_url": shown.poster_url, "thumbnail_width": 1024, "thumbnail_height": 1024}
    return JSONResponse(body, headers=CORS)


def _product_of_url(url: str, base_url: str) -> tuple[str, str]:
    """(tenant, sku) of one of our /view or /embed URLs; 404 for anything else."""
    base, parts = urlsplit(base_url), urlsplit(url)
    path = parts.path
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not path.startswith(base.path + "/"):
        raise not_found("Product page")
    segments = path[len(base.path) + 1 :].split("/")
    if len(segments) in (2, 3) and segments[0] in ("view", "embed"):
        tenant = segments[1] if len(segments) == 3 else catalog.DEFAULT_TENANT
        sku = segments[-1]
        if re.fullmatch(TENANT_PATTERN, tenant) and re.fullmatch(SKU_PATTERN, sku):
            return tenant, sku
    raise not_found("Product page")


def _fit(size: tuple[int, int], maxwidth: int | None, maxheight: int | None) -> tuple[int, int]:
    """`size` scaled down (never up) to fit the consumer's maximum, keeping its aspect ratio."""
    width, height = size
    scale = min(1.0, (maxwidth or width) / width, (maxheight or height) / height)
    return round(width * scale), round(height * scale)


@router.get("/v1/settings/embedding", response_model=EmbeddingSettings, tags=["settings"])
def get_embedding(tenant: AdminTenantDep, session: SessionDep) -> EmbeddingSettings:
    return EmbeddingSettings(allowed_origins=catalog.allowed_origins(session, tenant))


@router.put("/v1/settings/embedding", response_model=EmbeddingSettings, tags=["settings"])
def put_embedding(body: EmbeddingSettings, tenant: AdminTenantDep, session: SessionDep) -> EmbeddingSettings:
    """Replace the storefront origins allowed to frame this tenant's viewer and embed pages."""
    catalog.set_allowed_origins(session, tenant, body.allowed_origins)
    session.commit()
    return body
