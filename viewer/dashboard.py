"""The catalog team's dashboard (/dashboard): two server-rendered shells and their headers.

The shells hold no catalog data and no key: the team's API key lives in the browser tab's
sessionStorage, and static/dashboard.js fetches everything from the JSON API with it
(`Authorization: Bearer`). So the HTML is the same for everyone, can never leak one tenant's
data to another, and carries no inline script, which lets the page's CSP forbid it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .pages import MODEL_VIEWER_BUNDLE, MODEL_VIEWER_CONFIG, STATIC_URL
from .security import BASE_HEADERS, origin_of

DASHBOARD_SCRIPT = f"{STATIC_URL}/dashboard.js"
DASHBOARD_STYLESHEET = f"{STATIC_URL}/dashboard.css"

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def dashboard_headers(storage_urls: Iterable[str]) -> dict[str, str]:
    """Headers of a dashboard page whose posters, models and reports are read from `storage_urls`.

    Stricter than the viewer's (viewer/security.py): a page that holds an API key and has
    "re-publish" buttons is never framed by anyone (no clickjacking), never cached, and sends
    no Referer to the storage it reads from.
    """
    origins = sorted({o for url in storage_urls if (o := origin_of(url))})
    sources = " ".join(["'self'", *origins])
    policy = "; ".join(
        [
            "default-src 'none'",
            # model-viewer compiles its Draco/Basis/meshopt decoders: WebAssembly only, never eval.
            "script-src 'self' 'wasm-unsafe-eval'",
            "worker-src 'self' blob:",
            # model-viewer writes style attributes into its shadow root; page text is escaped.
            "style-src 'self' 'unsafe-inline'",
            f"img-src {sources} data: blob:",
            f"connect-src {sources} data: blob:",
            "base-uri 'none'",
            # The forms are handled by dashboard.js: nothing is ever submitted by the browser.
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        **BASE_HEADERS,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": policy,
    }


def _render(template: str, **context) -> str:
    return _TEMPLATES.get_template(template).render(
        stylesheet_url=DASHBOARD_STYLESHEET, script_url=DASHBOARD_SCRIPT, **context
    )


def render_dashboard_page() -> str:
    """The product list, its filters and the webhook delivery log (behind the login form)."""
    return _render("dashboard.html")


def render_dashboard_product_page(sku: str) -> str:
    """One product: live viewer, report, jobs, versions, re-process form and embed snippets."""
    return _render(
        "dashboard_product.html", sku=sku, config_url=MODEL_VIEWER_CONFIG, bundle_url=MODEL_VIEWER_BUNDLE
    )
