"""A storefront embedding a product, in a real browser: pages served from other origins (their
own local ports) paste the snippets that GET /v1/products/{sku}/embed hands out.

- The web-component snippet loads our bundle and the model across origins (CORS on scripts,
  decoders and models; no cookies) and reports the visit to the stats.
- The iframe snippet works from an origin in the tenant's allowed list and is refused by the
  browser (CSP frame-ancestors) from any other.
"""

from __future__ import annotations

import time

import pytest

from .browser import INIT_SCRIPT, PAGE_TIMEOUT_MS, SHOW_MODEL, shop_page, storefront

SKU = "CABINET-GLB"


@pytest.fixture(scope="module")
def snippets(server, published, public_http) -> dict:
    assert published[SKU].job["status"] == "succeeded"
    response = public_http.get(f"{server.url}/v1/products/{SKU}/embed")  # no key: public
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    return response.json()


def views(catalog) -> int:
    return catalog.event_totals(SKU)["view"]


def test_web_component_snippet_loads_the_model_on_another_origin(server, catalog, published, snippets, browser):
    views_before = views(catalog)
    with storefront({"/": shop_page(snippets["web_component"])}) as shop:
        context = browser.new_context(viewport={"width": 800, "height": 700})
        try:
            page = context.new_page()
            requests, errors = [], []
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.add_init_script(INIT_SCRIPT)
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(f"{shop}/", wait_until="load")
            shown = page.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)
            cookies = context.cookies()
        finally:
            context.close()

    assert shown["webgl"]
    assert shown["dimensions"] == pytest.approx(list(published[SKU].case.dimensions_m), rel=0.01)
    assert not errors, errors
    origins = {url.split("/", 3)[2] for url in requests if url.startswith("http")}
    assert origins <= {shop.split("/")[2], server.url.split("/")[2]}, origins
    assert any(url.startswith(server.url + "/static/vendor/model-viewer/") for url in requests)
    assert not cookies, "embedding needs no cookies and sets none"

    deadline = time.monotonic() + 20
    while views(catalog) < views_before + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert views(catalog) == views_before + 1, "the storefront's visit reaches the stats"


def frame_page(browser, shop: str):
    context = browser.new_context(viewport={"width": 800, "height": 700})
    page = context.new_page()
    page.console = []
    page.on("console", lambda message: page.console.append(message.text))
    page.add_init_script(INIT_SCRIPT)
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(f"{shop}/", wait_until="load")
    (frame,) = [f for f in page.frames if f is not page.main_frame]
    # The snippet's iframe is loading="lazy": it may start after the page's load event.
    deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
    while frame.url in ("", "about:blank") and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    return page, frame


def test_iframe_embed_works_from_an_allowed_origin_and_is_refused_from_others(
    server, catalog, published, snippets, browser
):
    page_html = shop_page(snippets["iframe"])
    with storefront({"/": page_html}) as allowed, storefront({"/": page_html}) as other:
        response = catalog.http.put("/v1/settings/embedding", json={"allowed_origins": [allowed]})
        assert response.status_code == 200, response.text
        try:
            page, frame = frame_page(browser, allowed)
            try:
                assert frame.url == snippets["embed_url"]
                shown = frame.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)
            finally:
                page.context.close()
            assert shown["webgl"]
            assert shown["dimensions"] == pytest.approx(list(published[SKU].case.dimensions_m), rel=0.01)

            page, frame = frame_page(browser, other)
            try:
                has_viewer = frame.evaluate("() => Boolean(document.querySelector('model-viewer'))")
                refused_url = frame.url
                console = list(page.console)
            finally:
                page.context.close()
            assert not has_viewer, "a storefront that is not allowed must not get the viewer"
            assert refused_url != snippets["embed_url"]
            assert any("frame-ancestors" in line for line in console), console
        finally:
            catalog.http.put("/v1/settings/embedding", json={"allowed_origins": []})
