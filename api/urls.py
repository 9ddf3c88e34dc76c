"""The public URLs the API hands out: published files and viewer pages.

Absolute, from `public_base_url` (or the request's own base URL), because storefronts paste them
into other sites. Storage URLs are either absolute already (a CDN or bucket) or relative to this
service (local files served by /files).
"""

from __future__ import annotations

from assets.catalog import DEFAULT_TENANT
from assets.models import Product
from assets.storage import Storage


def absolute_url(base_url: str, url: str) -> str:
    return url if "://" in url else base_url + url


def view_path(tenant: str, sku: str) -> str:
    """The viewer page of a product: the default tenant's skus get the short form."""
    return f"/view/{sku}" if tenant == DEFAULT_TENANT else f"/view/{tenant}/{sku}"


def published_asset_urls(product: Product, base_url: str, storage: Storage) -> dict[str, str] | None:
    """Absolute URLs of the product's published files by kind (glb, usdz, report); None if unpublished."""
    version = product.published_version
    if version is None:
        return None
    return {kind: absolute_url(base_url, storage.url(key)) for kind, key in version.manifest["assets"].items()}
