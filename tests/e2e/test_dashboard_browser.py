"""The catalog team's dashboard in a real browser (headless Chromium) on the real server.

- a wrong key is refused on the login form, and nothing is kept;
- with the right key, the list shows every product with a poster that really loaded (or a
  placeholder), its status (failed with its error code), figures and dimensions, and the
  filters (failed, has warnings, dimension mismatch) leave exactly the products the API says;
- a product's page shows the live model, the report (every assumption and warning), the jobs,
  the versions and the embed snippets, all under the page's CSP;
- re-processing with another triangle budget runs a job, and the new version appears; the old
  one can be re-published (rollback).

The module makes its own products (a rescaled one with a warning, one off its declared size,
one with a broken file) and deletes them afterwards: other modules share the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .browser import DESKTOP_VIEWPORT, INIT_SCRIPT, PAGE_TIMEOUT_MS, SHOW_MODEL, foreign_requests
from .cases import obj_zip_in_cm
from .conftest import JOB_TIMEOUT

LIST_SCREENSHOT = Path("/tmp/dashboard-list.png")
PRODUCT_SCREENSHOT = Path("/tmp/dashboard-product.png")

# The sideboard model is 120 × 80 × 45 cm; these products declare it about 4 % larger.
LARGER = {"width": 125, "height": 83, "depth": 47, "unit": "cm"}
RESCALED = "DASH-RESCALED"  # fit=scale: published rescaled, with a warning saying so
OFF_SIZE = "DASH-OFF-SIZE"  # tolerance 5 %: published as it is, 4 % off the catalog
BROKEN = "DASH-BROKEN"  # not a 3D file: its job fails
NEW_BUDGET = 5000

ROW_SKUS = "[...document.querySelectorAll('.products tbody tr')].filter((r) => !r.hidden).map((r) => r.dataset.sku)"

# Scroll each poster into view (they load lazily) and wait until it is decoded, ready to paint
# (a broken one rejects: its naturalWidth stays 0); [sku, naturalWidth] of each.
LOAD_POSTERS = """
async () => {
  const posters = [...document.querySelectorAll('.products img.thumb')];
  for (const img of posters) {
    img.scrollIntoView({ block: 'center' });
    await img.decode().catch(() => {});
  }
  window.scrollTo(0, 0);
  return posters.map((img) => [img.closest('tr').dataset.sku, img.naturalWidth]);
}
"""


@pytest.fixture(scope="module")
def dashboard_products(catalog, published) -> Iterator[dict[str, dict]]:
    """Three products that look wrong in three ways, each with its finished upload job."""
    uploads = {
        RESCALED: ("sideboard.zip", obj_zip_in_cm(), {"fit": "scale"}),
        OFF_SIZE: ("sideboard.zip", obj_zip_in_cm(), {"tolerance": "0.05"}),
        # A GLB header (the upload is accepted) over nothing: the conversion fails.
        BROKEN: ("chair.glb", b"glTF\x02\x00\x00\x00" + b"\x00" * 64, {}),
    }
    jobs = {}
    for sku, (filename, data, form) in uploads.items():
        catalog.create_product(sku, f'Dashboard <i>"{sku}"</i> & co', LARGER, "floor")
        jobs[sku] = catalog.upload_model(sku, filename, data, form)
    finished = {sku: catalog.wait_for_job(job_id) for sku, job_id in jobs.items()}
    assert finished[RESCALED]["status"] == "succeeded", finished[RESCALED]
    assert finished[OFF_SIZE]["status"] == "succeeded", finished[OFF_SIZE]
    assert finished[BROKEN]["status"] == "failed", finished[BROKEN]
    yield finished
    for sku in uploads:
        catalog.http.delete(f"/v1/products/{sku}")


def open_dashboard(browser, url: str) -> Page:
    """A fresh tab (its own sessionStorage) on a dashboard page, with errors recorded."""
    context = browser.new_context(viewport=DESKTOP_VIEWPORT)
    page = context.new_page()
    page.requests, page.errors = [], []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.add_init_script(INIT_SCRIPT)
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url, wait_until="load")
    return page


def sign_in(page: Page, key: str) -> None:
    """Type the key into the login form, as a person does, and wait for the page behind it."""
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")
    expect(page.locator(".app")).to_be_visible()
    expect(page.locator(".login")).to_be_hidden()


def wait_for_list(page: Page) -> None:
    page.wait_for_function(
        "() => { const s = document.querySelector('.list-status').textContent;"
        " return s.startsWith('Showing') && !s.includes('loading more'); }"
    )


def api_products(catalog) -> list[dict]:
    response = catalog.http.get("/v1/products", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return response.json()["products"]


def test_a_wrong_key_shows_the_login_error_and_keeps_nothing(server, browser):
    page = open_dashboard(browser, f"{server.url}/dashboard")
    try:
        expect(page.locator("#api-key")).to_be_focused()
        page.fill("#api-key", "v3d_this-key-does-not-exist")
        page.press("#api-key", "Enter")
        error = page.locator("#login-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("not accepted")
        expect(page.locator(".app")).to_be_hidden()
        assert page.evaluate("sessionStorage.length") == 0
        assert "v3d_this-key" not in page.url
        assert not page.errors, page.errors
    finally:
        page.context.close()


def test_the_list_shows_every_product_with_its_poster_status_and_figures(server, catalog, dashboard_products, browser):
    products = {p["sku"]: p for p in api_products(catalog)}
    page = open_dashboard(browser, f"{server.url}/dashboard")
    try:
        sign_in(page, server.api_key)
        wait_for_list(page)
        assert set(page.evaluate(ROW_SKUS)) == set(products)
        posters = dict(page.evaluate(LOAD_POSTERS))
        page.screenshot(path=LIST_SCREENSHOT, full_page=True, animations="disabled")

        with_poster = {sku for sku, p in products.items() if p.get("assets", {}).get("poster")}
        assert RESCALED in with_poster and BROKEN not in with_poster
        assert set(posters) == with_poster
        assert all(width > 0 for width in posters.values()), f"posters that did not load: {posters}"

        broken = page.locator(f'tr[data-sku="{BROKEN}"]')
        expect(broken.locator(".thumb-missing")).to_have_text("No image")
        expect(broken.locator(".status-cell")).to_contain_text("failed")
        expect(broken.locator(".status-cell")).to_contain_text(dashboard_products[BROKEN]["error"]["code"])

        rescaled = page.locator(f'tr[data-sku="{RESCALED}"]')
        summary = products[RESCALED]["summary"]
        cells = rescaled.locator("td, th").all_inner_texts()
        # Poster, product, status, triangles, GLB, web GLB, USDZ, declared, measured, warnings, rate.
        assert cells[1] == f'Dashboard <i>"{RESCALED}"</i> & co\n{RESCALED}'  # catalog text stays text
        assert cells[2] == "succeeded"
        assert cells[3] == f"{summary['triangles']:,}"
        assert all(cell.endswith(("kB", "MB", " B")) for cell in cells[4:7]), cells
        assert cells[7] == "125 × 83 × 47"
        measured = [round(products[RESCALED]["dimensions_m"][a] * 100, 1) for a in ("width", "height", "depth")]
        assert cells[8] == " × ".join(f"{v:g}" for v in measured)
        assert cells[9] == str(summary["warnings"]) and summary["warnings"] >= 1
        assert cells[10] == "—"  # no shopper has seen it yet
        expect(page.locator(f'tr[data-sku="{OFF_SIZE}"] .dims-mismatch')).to_contain_text("mismatch")

        deliveries = catalog.http.get("/v1/webhooks/deliveries").json()["deliveries"]
        if not deliveries:
            expect(page.locator(".webhooks-status")).to_have_text("No webhooks.")
        assert not page.evaluate("window.cspViolations"), page.evaluate("window.cspViolations")
        assert not foreign_requests(page.requests, server.url)
        assert not page.errors, page.errors
    finally:
        page.context.close()


@pytest.mark.parametrize(
    ("filter_value", "wanted", "expected_sku"),
    [
        ("failed", lambda p: p.get("latest_job", {}).get("status") == "failed", BROKEN),
        ("warnings", lambda p: p.get("summary", {}).get("warnings", 0) > 0, RESCALED),
        ("mismatch", lambda p: p.get("summary", {}).get("dimension_mismatch", False), OFF_SIZE),
    ],
)
def test_a_filter_leaves_exactly_the_products_the_api_says(
    server, catalog, dashboard_products, browser, filter_value, wanted, expected_sku
):
    expected = {p["sku"] for p in api_products(catalog) if wanted(p)}
    assert expected_sku in expected
    page = open_dashboard(browser, f"{server.url}/dashboard")
    try:
        sign_in(page, server.api_key)
        wait_for_list(page)
        box = page.locator(f'input[name="filter"][value="{filter_value}"]')
        box.focus()
        page.keyboard.press("Space")  # the filters work from the keyboard
        expect(box).to_be_checked()
        assert set(page.evaluate(ROW_SKUS)) == expected
        expect(page.locator(".list-status")).to_contain_text(f"Showing {len(expected)} of")
        box.uncheck()
        assert expected < set(page.evaluate(ROW_SKUS))
    finally:
        page.context.close()


def test_a_product_page_shows_the_model_report_jobs_versions_and_snippets(server, catalog, dashboard_products, browser):
    product = catalog.product(RESCALED)
    report = catalog.http.get(product["assets"]["report"]).json()
    page = open_dashboard(browser, f"{server.url}/dashboard")
    try:
        sign_in(page, server.api_key)
        wait_for_list(page)
        page.locator(f'tr[data-sku="{RESCALED}"] .product-link').click()
        page.wait_for_url(f"{server.url}/dashboard/products/{RESCALED}")
        expect(page.locator(".product-title")).to_have_text(f'Dashboard <i>"{RESCALED}"</i> & co')

        expect(page.locator(".report .assumptions li")).to_have_text(report["assumptions"])
        expect(page.locator(".report .warnings li")).to_have_text(report["warnings"])
        assert any("rescaled" in warning for warning in report["warnings"])
        stats = page.locator(".report-stats tbody tr").first.locator("td").all_inner_texts()
        assert stats == [f"{report['input']['triangles']:,}", f"{report['output']['triangles']:,}"]
        expect(page.locator(".report-platforms tbody tr")).to_have_count(2)

        expect(page.locator(".versions-table tbody tr")).to_have_count(1)
        expect(page.locator(".versions-table tbody tr").first).to_contain_text("published")
        expect(page.locator(".jobs-table tbody tr").first).to_contain_text("succeeded")
        expect(page.locator("#snippet-web-component")).to_have_value(
            catalog.http.get(f"/v1/products/{RESCALED}/embed").json()["web_component"]
        )

        page.wait_for_selector("model-viewer")
        shown = page.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)
        assert shown["webgl"]
        measured = product["dimensions_m"]
        assert shown["dimensions"] == pytest.approx([measured["width"], measured["height"], measured["depth"]], rel=0.01)
        assert not page.evaluate("window.cspViolations"), page.evaluate("window.cspViolations")
        assert not foreign_requests(page.requests, server.url)
        assert not page.errors, page.errors
    finally:
        page.context.close()


def test_reprocess_with_another_budget_shows_the_new_version_which_can_be_rolled_back(
    server, catalog, dashboard_products, browser
):
    first_version = catalog.product(RESCALED)["version"]
    page = open_dashboard(browser, f"{server.url}/dashboard/products/{RESCALED}")
    try:
        sign_in(page, server.api_key)
        expect(page.locator(".versions-table tbody tr")).to_have_count(1)
        page.fill("#rp-max-triangles", str(NEW_BUDGET))
        page.locator(".reprocess-form button[type=submit]").click()

        status = page.locator(".reprocess-status")
        expect(status).to_contain_text("Done", timeout=JOB_TIMEOUT * 1000)
        product = catalog.product(RESCALED)
        assert product["version"] != first_version
        assert product["latest_job"]["kind"] == "reprocess"
        expect(status).to_contain_text(f"version {product['version']} is published")

        rows = page.locator(".versions-table tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.first).to_have_attribute("data-version", str(product["version"]))
        expect(rows.first).to_have_class("is-new")
        expect(rows.first).to_contain_text("published")
        expect(page.locator(".jobs-table tbody tr").first).to_contain_text("reprocess")
        expect(page.locator(".report-settings")).to_contain_text(f"{NEW_BUDGET:,}")
        page.wait_for_selector("model-viewer")
        page.evaluate(SHOW_MODEL, PAGE_TIMEOUT_MS - 10_000)
        page.screenshot(path=PRODUCT_SCREENSHOT, full_page=True, animations="disabled")

        old = page.locator(f'.versions-table tr[data-version="{first_version}"]')
        old.get_by_role("button", name=f"Re-publish version {first_version}").click()
        expect(page.locator(".versions-status")).to_contain_text(f"Version {first_version} is published again")
        expect(old).to_contain_text("published")
        assert catalog.product(RESCALED)["version"] == first_version
        assert not page.evaluate("window.cspViolations"), page.evaluate("window.cspViolations")
        assert not page.errors, page.errors
    finally:
        page.context.close()


def test_the_webhook_delivery_log_shows_what_the_api_says(server, catalog, browser):
    """A receiver that is not there: the log shows the attempt, its failure and the event."""
    hook = catalog.http.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["job.failed"]})
    assert hook.status_code == 201, hook.text
    sku = "DASH-HOOKED"
    try:
        catalog.create_product(sku, "Hooked", LARGER, "floor")
        job_id = catalog.upload_model(sku, "broken.glb", b"glTF\x02\x00\x00\x00" + b"\x00" * 64, {})
        assert catalog.wait_for_job(job_id)["status"] == "failed"
        deadline = time.monotonic() + 30
        while not (deliveries := catalog.http.get("/v1/webhooks/deliveries").json()["deliveries"])[0]["attempts"]:
            assert time.monotonic() < deadline, deliveries
            time.sleep(0.2)
        page = open_dashboard(browser, f"{server.url}/dashboard")
        try:
            sign_in(page, server.api_key)
            rows = page.locator(".deliveries tbody tr")
            expect(rows).to_have_count(len(deliveries))
            first = rows.first.locator("td").all_inner_texts()
            assert first[1] == "job.failed" and first[2] == "http://127.0.0.1:9/hook"
            assert first[3] in ("pending", "failed") and first[6]  # the error the receiver's absence gave
            expect(page.locator(".webhooks-status")).to_contain_text("most recent deliveries")
            assert not page.errors, page.errors
        finally:
            page.context.close()
    finally:
        catalog.http.delete(f"/v1/webhooks/{hook.json()['id']}")
        catalog.http.delete(f"/v1/products/{sku}")
