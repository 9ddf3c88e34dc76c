"""A shopper's view in a real browser: headless Chromium (Debian's, via Playwright) opens
/view/<sku>, model-viewer loads the published GLB with WebGL (SwiftShader), measures the same
real-world size the catalog declared, draws a picture that is not blank, and nothing is fetched
from anywhere but this service (no CDN, no decoder downloads). On a phone's user agent the AR
button hands Scene Viewer the GLB and Quick Look the USDZ, both at fixed (real) scale.

Only events are not enough: without WebGL model-viewer still fires `load` and reports
`modelIsVisible` while drawing nothing, so the test asserts a WebGL context and the pixels.
"""
from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

from .cases import model_cases

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Keep WebGL through SwiftShader (--disable-gpu or --use-angle=gl-egl would remove it), and keep
# Chromium's own background traffic (updates, sync, field trials) from reaching for the network.
CHROMIUM_ARGS = [
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 90_000
# Built in code, so their look is known: a checkerboard box must give a busy picture.
BUILT_SKUS = [case.sku for case in model_cases() if not case.sku.startswith("CORPUS-")]

# Without this, slow software-rendered frames make model-viewer lower its render scale, and
# toBlob() returns a smaller image cropped to a quarter.
INIT_SCRIPT = """
customElements.whenDefined('model-viewer').then((ModelViewer) => { ModelViewer.minimumRenderScale = 1; });
"""

# Everything waits inside the page with its own deadline: setting or loading a `src` can fire no
# `load` at all, and an unguarded wait would hang the test run.
SHOW_MODEL = """
async (timeoutMs) => {
  const deadline = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`model not shown within ${timeoutMs} ms`)), timeoutMs));
  const shown = (async () => {
    await customElements.whenDefined('model-viewer');
    const viewer = document.querySelector('model-viewer');
    if (!viewer.loaded) {
      await new Promise((resolve, reject) => {
        viewer.addEventListener('load', resolve, { once: true });
        viewer.addEventListener('error', (event) =>
          reject(new Error(`model-viewer error: ${JSON.stringify(event.detail)}`)), { once: true });
      });
    }
    while (!viewer.modelIsVisible) {
      await new Promise(requestAnimationFrame);
    }
    viewer.jumpCameraToGoal();
    await new Promise(requestAnimationFrame);
    await new Promise(requestAnimationFrame);
    const probe = document.createElement('canvas');
    const webgl = Boolean(probe.getContext('webgl2') || probe.getContext('webgl'));
    const size = viewer.getDimensions();
    const blob = await viewer.toBlob({ mimeType: 'image/png' });
    const png = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result.split(',')[1]);
      reader.readAsDataURL(blob);
    });
    return { webgl, dimensions: [size.x, size.y, size.z], png };
  })();
  return Promise.race([shown, deadline]);
}
"""


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: `make test` installs it (scripts/install-chromium.sh)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def picture_stats(png: bytes) -> tuple[float, float]:
    """(share of pixels the model covers, standard deviation of their colour, 0–255)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"), dtype=float)
    covered = pixels[..., 3] > 0
    if not covered.any():
        return 0.0, 0.0
    return float(covered.mean()), float(pixels[covered][:, :3].std(axis=0).max())


@pytest.mark.parametrize("sku", BUILT_SKUS)
def test_shopper_sees_the_model_at_real_size_from_our_origin_only(server, published, browser, sku):
    item = published[sku]
    assert item.job["status"] == "succeeded", item.job
    origin = urlsplit(server.url)
    requests: list[str] = []
    page_errors: list[str] = []
    context = browser.new_context(viewport={"width": 800, "height": 800})
    try:
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.add_init_script(INIT_SCRIPT)
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(f"{server.url}/view/{sku}", wait_until="load")
        shown = page.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)
    finally:
        context.close()

    assert shown["webgl"], "no WebGL context: model-viewer would load but draw nothing"
    dims = item.product["dimensions_m"]
    assert shown["dimensions"] == pytest.approx([dims["width"], dims["height"], dims["depth"]], rel=0.01)
    assert shown["dimensions"] == pytest.approx(list(item.case.dimensions_m), rel=0.01)

    coverage, spread = picture_stats(base64.b64decode(shown["png"]))
    assert coverage > 0.02, f"the model covers {coverage:.1%} of the picture: nothing was drawn"
    assert spread > 10, f"colour spread {spread:.1f}: the textured model came out flat"

    foreign = [
        url for url in requests
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url)[:2] != origin[:2]
    ]
    assert not foreign, f"requests left {server.url}: {foreign}"
    assert not page_errors, page_errors


PHONES = {
    "android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    # Chrome on iPhone: Quick Look through <a rel="ar">, which desktop Chromium can then "click".
    "iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
}

# Record the links model-viewer clicks to start AR instead of following them.
RECORD_AR_LINKS = """
window.arLinks = [];
HTMLAnchorElement.prototype.click = function () { window.arLinks.push({ href: this.href, rel: this.rel }); };
"""

ACTIVATE_AR = """
async (timeoutMs) => {
  const deadline = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`AR not started within ${timeoutMs} ms`)), timeoutMs));
  const started = (async () => {
    await customElements.whenDefined('model-viewer');
    const viewer = document.querySelector('model-viewer');
    if (!viewer.loaded) {
      await new Promise((resolve) => viewer.addEventListener('load', resolve, { once: true }));
    }
    const canActivateAR = viewer.canActivateAR;
    await viewer.activateAR();
    return { canActivateAR, links: window.arLinks };
  })();
  return Promise.race([started, deadline]);
}
"""


@pytest.mark.parametrize("phone", PHONES)
def test_ar_button_opens_the_phone_viewer_at_fixed_scale(server, published, browser, phone):
    item = published["CABINET-GLB"]
    assets = item.product["assets"]
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, user_agent=PHONES[phone], is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        page.add_init_script(RECORD_AR_LINKS)
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(f"{server.url}/view/{item.case.sku}", wait_until="load")
        started = page.evaluate(ACTIVATE_AR, PAGE_TIMEOUT_MS - 10_000)
    finally:
        context.close()

    assert started["canActivateAR"], f"no AR on {phone}: the AR button would stay hidden"
    (link,) = started["links"]
    if phone == "android":
        assert link["href"].startswith("intent://arvr.google.com/scene-viewer/1.2?")
        query = parse_qs(urlsplit(link["href"].replace("intent://", "https://", 1)).query)
        assert query["file"] == [assets["glb"]]
        assert query["resizable"] == ["false"], "fixed scale must reach Scene Viewer"
        assert query.get("enable_vertical_placement") == ["true"], "a wall item must go on a wall"
    else:
        assert link["rel"] == "ar"
        assert link["href"] == f"{assets['usdz']}#allowsContentScaling=0", "fixed scale must reach Quick Look"
