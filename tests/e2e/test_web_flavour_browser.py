"""The `web` flavour in a real browser: model-viewer decodes the meshopt-compressed, quantised GLB
with the decoder this service hosts (no CDN), at the same real-world size as the AR flavour; with
KTX2 textures (uploaded with web_textures=ktx2) it transcodes them with the Basis transcoder this
service hosts and draws the same picture as the AR file."""
from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from .browser import INIT_SCRIPT, PAGE_TIMEOUT_MS, SHOW_MODEL, covered_mean_colour, picture_stats, shop_page, storefront
from .cases import model_cases
from .test_viewer_browser import BUILT_SKUS

SWAP_TO = """
async ([url, timeoutMs]) => {
  const viewer = document.querySelector('model-viewer');
  await customElements.whenDefined('model-viewer');
  // The page's own model first: its `load` must not be taken for the swapped one's.
  if (!viewer.loaded) await new Promise((resolve) => viewer.addEventListener('load', resolve, { once: true }));
  const loaded = new Promise((resolve, reject) => {
    viewer.addEventListener('load', resolve, { once: true });
    viewer.addEventListener('error', (e) => reject(new Error(JSON.stringify(e.detail))), { once: true });
    setTimeout(() => reject(new Error(`no load within ${timeoutMs} ms`)), timeoutMs);
  });
  viewer.src = url;
  await loaded;
  const size = viewer.getDimensions();
  return [size.x, size.y, size.z];
}
"""


def test_web_flavour_loads_with_the_self_hosted_decoder(server, published, browser):
    item = published[BUILT_SKUS[0]]
    web_url = item.product["assets"]["glb_web"]
    assert web_url != item.product["assets"]["glb"]
    requests: list[str] = []
    page = browser.new_page()
    try:
        page.on("request", lambda request: requests.append(request.url))
        page.add_init_script(INIT_SCRIPT)
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(f"{server.url}/view/{item.case.sku}", wait_until="load")
        size = page.evaluate(SWAP_TO, [web_url, PAGE_TIMEOUT_MS - 10_000])
    finally:
        page.close()
    dims = item.product["dimensions_m"]
    assert size == pytest.approx([dims["width"], dims["height"], dims["depth"]], rel=0.01)
    origin = urlsplit(server.url)[:2]
    decoders = [url for url in requests if Path(urlsplit(url).path).name == "meshopt_decoder.js"]
    assert decoders and all(urlsplit(url)[:2] == origin for url in decoders)
    assert not [url for url in requests if urlsplit(url).scheme in ("http", "https") and urlsplit(url)[:2] != origin]


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
    # own /view page's CSP forbids (that page only ever shows the AR file).
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
