"""A shopper's view in a real browser: headless Chromium (Debian's, via Playwright) opens
/view/<sku> of models the real server converted.

- model-viewer loads the published GLB with WebGL (SwiftShader), measures the real-world size
  the catalog declared, draws a picture that is not blank, under the page's CSP without a
  single violation, and nothing is fetched from anywhere but this service;
- on a phone's user agent the AR button hands Scene Viewer the GLB (absolute URL, fixed scale,
  the product's title and link) and Quick Look the USDZ (fixed scale, the checkout banner);
- the poster rendered at publish time is a real, transparent picture of the model;
- on a desktop, "View in your room" shows a QR code that decodes to this page; dimension labels
  sit on the model in the product's unit and can be switched off;
- a visit's events reach the stats endpoint and the catalog list.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from .browser import (
    DESKTOP_VIEWPORT,
    INIT_SCRIPT,
    PAGE_TIMEOUT_MS,
    PHONE_VIEWPORT,
    PHONES,
    RECORD_AR_LINKS,
    SHOW_MODEL,
    foreign_requests,
    picture_stats,
    screenshot_spread,
)
from .cases import model_cases

# Built in code, so their look is known: a checkerboard box must give a busy picture.
BUILT_SKUS = [case.sku for case in model_cases() if not case.sku.startswith("CORPUS-")]
ALL_SKUS = [case.sku for case in model_cases()]
SHOP_LINK = "https://shop.example.test/cabinets/wall-cabinet?colour=white&size=60"
STOREFRONT_TEXT = {
    "price": "€129.00",
    "call_to_action": "Add to cart",
    "checkout_subtitle": "White lacquer & oak",
    "title": "Wall cabinet «Nordic»",
    "link": SHOP_LINK,
}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """Where the page screenshots go, for a person to look at (pytest's --basetemp)."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def cabinet(catalog, published) -> Iterator[dict]:
    """The wall cabinet with the storefront text a shop would set for AR (removed afterwards:
    other modules share the server)."""
    response = catalog.http.patch("/v1/products/CABINET-GLB", json=STOREFRONT_TEXT)
    assert response.status_code == 200, response.text
    yield response.json()
    catalog.http.patch("/v1/products/CABINET-GLB", json=dict.fromkeys(STOREFRONT_TEXT))


def open_page(browser, url: str, *, phone: str | None = None, viewport=None, init_scripts=()):
    """A page on its own context, with requests and errors recorded on it."""
    if phone:
        context = browser.new_context(viewport=PHONE_VIEWPORT, user_agent=PHONES[phone], is_mobile=True, has_touch=True)
    else:
        context = browser.new_context(viewport=viewport or DESKTOP_VIEWPORT)
    page = context.new_page()
    page.requests, page.errors = [], []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    for script in (INIT_SCRIPT, *init_scripts):
        page.add_init_script(script)
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url, wait_until="load")
    return page


@pytest.mark.parametrize("sku", ALL_SKUS)
def test_shopper_sees_the_model_at_real_size_from_our_origin_only(server, published, browser, sku):
    item = published[sku]
    assert item.job["status"] == "succeeded", item.job
    page = open_page(browser, f"{server.url}/view/{sku}", viewport={"width": 800, "height": 800})
    try:
        shown = page.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)
        screenshot = page.screenshot(animations="disabled")
        violations = page.evaluate("window.cspViolations")
    finally:
        page.context.close()

    assert shown["webgl"], "no WebGL context: model-viewer would load but draw nothing"
    dims = item.product["dimensions_m"]
    assert shown["dimensions"] == pytest.approx([dims["width"], dims["height"], dims["depth"]], rel=0.01)
    assert shown["dimensions"] == pytest.approx(list(item.case.dimensions_m), rel=0.01)

    coverage, spread = picture_stats(base64.b64decode(shown["png"]))
    assert coverage > 0.02, f"the model covers {coverage:.1%} of the picture: nothing was drawn"
    if sku in BUILT_SKUS:
        assert spread > 10, f"colour spread {spread:.1f}: the textured model came out flat"
    assert screenshot_spread(screenshot) > 10, "the page screenshot is blank"

    assert not foreign_requests(page.requests, server.url), f"requests left {server.url}"
    assert not violations, f"the page broke its own Content-Security-Policy: {violations}"
    assert not page.errors, page.errors


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
def test_ar_button_opens_the_phone_viewer_at_fixed_scale_with_the_shop_text(server, cabinet, browser, phone):
    assets = cabinet["assets"]
    page = open_page(browser, f"{server.url}/view/CABINET-GLB", phone=phone, init_scripts=[RECORD_AR_LINKS])
    try:
        started = page.evaluate(ACTIVATE_AR, PAGE_TIMEOUT_MS - 10_000)
    finally:
        page.context.close()

    assert started["canActivateAR"], f"no AR on {phone}: the AR button would stay hidden"
    (link,) = started["links"]
    if phone == "android":
        assert link["href"].startswith("intent://arvr.google.com/scene-viewer/1.2?")
        query = parse_qs(urlsplit(link["href"].replace("intent://", "https://", 1)).query)
        file_url = urlsplit(query["file"][0])
        assert file_url._replace(query="").geturl() == assets["glb"], "Scene Viewer needs the absolute GLB URL"
        assert query["resizable"] == ["false"], "fixed scale must reach Scene Viewer"
        assert query.get("enable_vertical_placement") == ["true"], "a wall item must go on a wall"
        assert query["title"] == [STOREFRONT_TEXT["title"]]
        assert query["link"] == [SHOP_LINK]
    else:
        assert link["rel"] == "ar"
        banner = (
            "callToAction=Add%20to%20cart"
            f"&checkoutTitle={quote(STOREFRONT_TEXT['title'], safe='')}"
            "&checkoutSubtitle=White%20lacquer%20%26%20oak"
            "&price=%E2%82%AC129.00"
        )
        assert link["href"] == f"{assets['usdz']}#{banner}&allowsContentScaling=0", "banner and fixed scale"


def test_poster_is_a_transparent_picture_of_the_model(published, public_http):
    for sku in BUILT_SKUS:
        poster_url = published[sku].product["assets"]["poster"]
        response = public_http.get(poster_url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["access-control-allow-origin"] == "*"
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "WEBP" and image.size == (1024, 1024) and image.mode == "RGBA"
        alpha = np.asarray(image)[..., 3]
        corners = np.concatenate([alpha[:64, :64].ravel(), alpha[:64, -64:].ravel(), alpha[-64:, :64].ravel()])
        assert corners.max() == 0, "the background around the model must be transparent"
        coverage, spread = picture_stats(response.content)
        assert 0.05 < coverage < 0.95, f"the model covers {coverage:.1%} of the poster"
        assert spread > 10, "the checkerboard model came out flat on its poster"


def test_view_page_shows_the_poster_while_loading(server, published, public_http):
    html = public_http.get(f"{server.url}/view/SIDEBOARD-OBJ").text
    assert f'poster="{published["SIDEBOARD-OBJ"].product["assets"]["poster"]}"' in html


def test_desktop_gets_a_qr_code_that_opens_this_page_on_a_phone(server, published, browser, screenshots):
    url = f"{server.url}/view/SIDEBOARD-OBJ"
    page = open_page(browser, url)
    try:
        page.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)
        button = page.locator(".qr-button")
        button.wait_for(state="visible")
        assert button.inner_text() == "View in your room"
        assert page.locator("button[slot=ar-button]").is_hidden(), "desktop browsers cannot start AR"
        button.click()
        qr = page.locator(".qr-code")
        qr.wait_for(state="visible")
        page.wait_for_function("document.querySelector('.qr-code').naturalWidth > 0")
        qr_png = qr.screenshot()
        page.screenshot(path=str(screenshots / "desktop.png"), animations="disabled")
    finally:
        page.context.close()
    (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png)))
    assert decoded.text == url and decoded.ec_level == "H"


def test_phone_gets_the_ar_button_and_no_qr_code(server, published, browser, screenshots):
    page = open_page(browser, f"{server.url}/view/SIDEBOARD-OBJ", phone="android")
    try:
        page.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)
        page.locator("button[slot=ar-button]").wait_for(state="visible")
        assert page.locator("button[slot=ar-button]").inner_text() == "View in your room"
        assert page.locator(".qr").is_hidden()
        page.screenshot(path=str(screenshots / "phone.png"), animations="disabled")
    finally:
        page.context.close()


DIMENSION_LABELS = """
() => [...document.querySelectorAll('.dimension')].map((el) => {
  const box = el.getBoundingClientRect();
  return { name: el.slot, text: el.textContent.trim(), shown: box.width > 0 && box.height > 0,
           x: box.x + box.width / 2, y: box.y + box.height / 2 };
})
"""


@pytest.mark.parametrize(
    ("locale", "labels"),
    [(None, ["120 cm", "80 cm", "45 cm"]), ("en-US", ["47 in", "31.5 in", "17.5 in"])],
)
def test_dimension_labels_sit_on_the_model_in_the_products_unit(server, catalog, published, browser, locale, labels):
    response = catalog.http.patch("/v1/products/SIDEBOARD-OBJ", json={"locale": locale})
    assert response.status_code == 200, response.text
    page = open_page(browser, f"{server.url}/view/SIDEBOARD-OBJ")
    try:
        page.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)
        viewer = page.locator("model-viewer").bounding_box()
        shown = page.evaluate(DIMENSION_LABELS)
        page.locator(".dimensions-toggle").click()
        hidden = page.evaluate(DIMENSION_LABELS)
    finally:
        page.context.close()
        catalog.http.patch("/v1/products/SIDEBOARD-OBJ", json={"locale": None})
    assert [label["name"] for label in shown] == ["hotspot-width", "hotspot-height", "hotspot-depth"]
    assert [label["text"] for label in shown] == labels
    for label in shown:
        assert label["shown"], label
        assert viewer["x"] < label["x"] < viewer["x"] + viewer["width"], label
        assert viewer["y"] < label["y"] < viewer["y"] + viewer["height"], label
    width, height = shown[0], shown[1]
    assert width["y"] > height["y"], "the width label runs along the bottom, below the height label's middle"
    assert not any(label["shown"] for label in hidden), "the toggle hides the labels"


CLICK_AR_BUTTON = """
async (timeoutMs) => {
  const deadline = new Promise((_, reject) => setTimeout(() => reject(new Error('no AR button')), timeoutMs));
  const clicked = (async () => {
    await customElements.whenDefined('model-viewer');
    const viewer = document.querySelector('model-viewer');
    if (!viewer.loaded) await new Promise((resolve) => viewer.addEventListener('load', resolve, { once: true }));
    while (!viewer.canActivateAR) await new Promise(requestAnimationFrame);
    document.querySelector('.ar-button').click();
    while (window.arLinks.length === 0) await new Promise(requestAnimationFrame);
    return window.arLinks;
  })();
  return Promise.race([clicked, deadline]);
}
"""

# What Quick Look sends the page when the banner's button is tapped (model-viewer listens for it
# on the <a rel="ar"> it clicked).
TAP_QUICK_LOOK_BANNER = """
() => document.querySelector('model-viewer').shadowRoot.querySelector('a[rel=ar]')
  .dispatchEvent(new MessageEvent('message', { data: '_apple_ar_quicklook_button_tapped' }))
"""


def wait_for_totals(catalog, sku: str, expected: dict[str, int], timeout: float = 20.0) -> dict[str, int]:
    """Beacons are sent asynchronously: poll until the counters reach `expected`."""
    deadline = time.monotonic() + timeout
    while True:
        totals = catalog.event_totals(sku)
        if all(totals[kind] >= count for kind, count in expected.items()) or time.monotonic() > deadline:
            return totals
        time.sleep(0.2)


def test_a_visit_shows_up_in_the_stats_and_the_catalog_list(server, catalog, cabinet, browser):
    before = catalog.event_totals("CABINET-GLB")
    android = open_page(browser, f"{server.url}/view/CABINET-GLB", phone="android", init_scripts=[RECORD_AR_LINKS])
    try:
        (link,) = android.evaluate(CLICK_AR_BUTTON, PAGE_TIMEOUT_MS - 10_000)
        assert link["href"].startswith("intent://arvr.google.com/scene-viewer/")
        # The page may still be loading the model (a loaded machine): its beacon must leave before the page goes.
        wait_for_totals(catalog, "CABINET-GLB", {"model_loaded": before["model_loaded"] + 1, "ar_launched": before["ar_launched"] + 1})
    finally:
        android.context.close()

    iphone = open_page(browser, f"{server.url}/view/CABINET-GLB", phone="iphone", init_scripts=[RECORD_AR_LINKS])
    try:
        iphone.route(SHOP_LINK, lambda route: route.fulfill(status=200, content_type="text/html", body="the shop"))
        iphone.evaluate(CLICK_AR_BUTTON, PAGE_TIMEOUT_MS - 10_000)
        # model-viewer fires `load` a frame after `loaded` turns true: let the beacon go first.
        wait_for_totals(catalog, "CABINET-GLB", {"model_loaded": before["model_loaded"] + 2})
        with iphone.expect_navigation(url=SHOP_LINK):
            iphone.evaluate(TAP_QUICK_LOOK_BANNER)
    finally:
        iphone.context.close()

    expected = {"view": 2, "model_loaded": 2, "ar_button_shown": 2, "ar_launched": 2, "quick_look_cta_tapped": 1}
    expected = {kind: before[kind] + count for kind, count in expected.items()}
    totals = wait_for_totals(catalog, "CABINET-GLB", expected)
    assert {kind: totals[kind] for kind in expected} == expected

    listed = catalog.http.get("/v1/products").json()["products"]
    (row,) = [p for p in listed if p["sku"] == "CABINET-GLB"]
    engagement = row["engagement"]
    assert engagement["views"] == totals["view"] and engagement["ar_launches"] == totals["ar_launched"]
    assert engagement["ar_launch_rate"] == pytest.approx(totals["ar_launched"] / totals["ar_button_shown"], abs=1e-4)
