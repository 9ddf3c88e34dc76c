"""The `web` flavour in a real browser: our pages show it inline wherever AR is not handed `src`
(not on Android), and model-viewer decodes the meshopt-compressed, quantised GLB with the decoder
this service hosts (no CDN), at the same real-world size as the AR flavour; with
KTX2 textures (uploaded with web_textures=ktx2) it transcodes them with the Basis transcoder this
service hosts and draws the same picture as the AR file."""
from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from .browser import (
    INIT_SCRIPT,
    PAGE_TIMEOUT_MS,
    SHOW_MODEL,
    covered_mean_colour,
    foreign_requests,
    picture_stats,
    shop_page,
    storefront,
)
from .cases import model_cases
from .test_viewer_browser import BUILT_SKUS, open_page

@pytest.mark.parametrize("phone, flavour", [(None, "glb_web"), ("iphone", "glb_web"), ("android", "glb")])
def test_the_inline_view_shows_the_web_flavour_where_ar_is_not_handed_src(server, published, browser, phone, flavour):
    """Desktops start no AR and Quick Look opens the USDZ, so they get the smaller web file (decoded
    with the meshopt decoder this service hosts); Android hands `src` to Scene Viewer, which cannot
    decode it, so Android gets the AR file. Either way one GLB is fetched, at the same size."""
    item = published[BUILT_SKUS[0]]
    assets = item.product["assets"]
    assert assets["glb_web"] != assets["glb"]
    page = open_page(browser, f"{server.url}/view/{item.case.sku}", phone=phone)
    try:
        shown = page.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)
        src = page.evaluate("document.querySelector('model-viewer').src")
        violations = page.evaluate("window.cspViolations")
    finally:
        page.context.close()
    assert src.split("?")[0] == assets[flavour]
    fetched = {url.split("?")[0] for url in page.requests} & {assets["glb"], assets["glb_web"]}
    assert fetched == {assets[flavour]}, "one model, fetched once its flavour was chosen"
    dims = item.product["dimensions_m"]
    assert shown["dimensions"] == pytest.approx([dims["width"], dims["height"], dims["depth"]], rel=0.01)
    assert picture_stats(base64.b64decode(shown["png"]))[1] > 10, "the textured model came out flat"
    assert not violations and not page.errors
    decoders = [url for url in page.requests if Path(urlsplit(url).path).name == "meshopt_decoder.js"]
    if flavour == "glb_web":
        assert decoders and all(urlsplit(url)[:2] == urlsplit(server.url)[:2] for url in decoders)
    assert not foreign_requests(page.requests, server.url)


@pytest.fixture(scope="module")
def ktx2_cabinet(catalog) -> dict:
    """The wall cabinet uploaded again with web_textures=ktx2, as a product of its own (other
    modules share the server and its products)."""
    case = next(case for case in model_cases() if case.sku == "CABINET-GLB")
    catalog.create_product("CABINET-KTX2", case.name, case.dimensions, case.placement)
    job = catalog.wait_for_job(catalog.upload_model("CABINET-KTX2", case.filename, case.build(), {"web_textures": "ktx2"}))
    assert job["status"] == "succeeded", job.get("error")
    return catalog.product("CABINET-KTX2")


def test_ktx2_textures_load_with_the_self_hosted_transcoder_and_look_like_the_ar_file(
    server, public_http, ktx2_cabinet, browser
):
    # On a storefront's page with our snippet, pointed at the web flavour there as a shop would:
    # three.js's Basis transcoder compiles its bindings with `new Function` in a worker, which our
    # own /view page's CSP forbids (that page shows a KTX2 product's AR file).
    assets = ktx2_cabinet["assets"]
    snippet = public_http.get(f"{server.url}/v1/products/CABINET-KTX2/embed").json()["web_component"]
    assert f'src="{assets["glb"]}' in snippet
    pages = {"/ar": shop_page(snippet),
             "/web": shop_page(snippet.replace(f'src="{assets["glb"]}', f'src="{assets["glb_web"]}', 1))}
    requests: list[str] = []
    shown = {}
    with storefront(pages) as shop:
        context = browser.new_context(viewport={"width": 800, "height": 800})
        try:
            for flavour in ("ar", "web"):
                page = context.new_page()
                page.on("request", lambda request: requests.append(request.url))
                page.add_init_script(INIT_SCRIPT)
                page.set_default_timeout(PAGE_TIMEOUT_MS)
                page.goto(f"{shop}/{flavour}", wait_until="load")
                shown[flavour] = base64.b64decode(page.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)["png"])
                page.close()
        finally:
            context.close()
    ar, web = shown["ar"], shown["web"]
    assert picture_stats(web)[0] == pytest.approx(picture_stats(ar)[0], abs=0.01)  # same size on screen
    # An untranscoded texture would leave the material plain white; the checkerboard must show, in its colours.
    assert picture_stats(web)[1] > 30
    assert np.abs(covered_mean_colour(web) - covered_mean_colour(ar)).max() < 12
    transcoder = [url for url in requests if Path(urlsplit(url).path).name.startswith("basis_transcoder")]
    assert {Path(urlsplit(url).path).name for url in transcoder} == {"basis_transcoder.js", "basis_transcoder.wasm"}
    assert all(url.startswith(server.url + "/static/vendor/basis/") for url in transcoder)
