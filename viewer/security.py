"""The security headers of the viewer and embed pages.

Content-Security-Policy: scripts only from this service (the pages have no inline script, so no
'unsafe-inline' and no nonces); WebAssembly compilation allowed for the Draco/Basis/meshopt
decoders ('wasm-unsafe-eval' permits WebAssembly only, never JS eval); models, posters and the
event beacon may also reach the storage origin when objects are served by a bucket or a CDN.
Inline styles stay allowed: model-viewer writes style attributes and, where constructable
stylesheets are missing, <style> elements into its shadow root; page text is escaped, so no
style can be injected.

`frame-ancestors` lists the tenant's storefront origins (and this service itself, for its own
pages): any other site that frames the page gets a refusal from the browser.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cache-Control": "no-cache",  # pages change when a new version is published
}


def origin_of(url: str) -> str | None:
    """scheme://host[:port] of an absolute http(s) URL; None for a relative one."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def page_headers(*, frame_ancestors: Iterable[str] | None, asset_urls: Iterable[str | None]) -> dict[str, str]:
    """Headers for a page whose models and poster are at `asset_urls`; framed by this service and
    `frame_ancestors`, or (None) by nobody at all."""
    assets = sorted({o for url in asset_urls if url and (o := origin_of(url))})
    sources = " ".join(["'self'", *assets])
    ancestors = "'none'" if frame_ancestors is None else " ".join(["'self'", *frame_ancestors])
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "worker-src 'self' blob:",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {sources} data: blob:",
            f"connect-src {sources} data: blob:",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )
    return {**BASE_HEADERS, "Content-Security-Policy": policy}
