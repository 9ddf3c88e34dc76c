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
from .security import page_headers

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
    # Its scripts, styles and sources are the viewer's (model-viewer needs the same allowances).
    return {
        **page_headers(frame_ancestors=None, asset_urls=storage_urls),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
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
