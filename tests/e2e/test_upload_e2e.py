"""Upload → convert → publish → serve, against the real server process.

For every model case: the job succeeds, the product reports its real-world size, the published
GLB passes the Khronos glTF-Validator and the USDZ our ARKit checks, both are served the way
storefronts and phones need (type, CORS, immutable caching), and /view/<sku> points at them and
at the model-viewer bundle this service serves itself.
"""
from __future__ import annotations

import io
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import trimesh

from processing.usdz_checks import check_usdz

from .cases import REPO, model_cases

VALIDATOR = REPO / "scripts" / "gltf_validate.mjs"
SKUS = [case.sku for case in model_cases()]
ASSET_TYPES = {"glb": "model/gltf-binary", "usdz": "model/vnd.usdz+zip", "report": "application/json"}
STOREFRONT = "https://shop.example.test"


class PageReferences(HTMLParser):
    """The <model-viewer> attributes and the script URLs of a page."""

    def __init__(self, html: str):
        super().__init__()
        self.viewer: dict[str, str | None] = {}
        self.scripts: list[dict[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "model-viewer":
            self.viewer = dict(attrs)
        elif tag == "script":
            self.scripts.append(dict(attrs))


def assert_close(actual: tuple[float, ...], expected: tuple[float, ...], what: str, rel: float = 0.01) -> None:
    assert actual == pytest.approx(expected, rel=rel), f"{what}: {actual} is not {expected} within {rel:.0%}"


def validate_glb(path: Path) -> dict:
    """The Khronos glTF-Validator's verdict (node + npm `gltf-validator`; fails if either is missing)."""
    assert (REPO / "node_modules" / "gltf-validator").is_dir(), "npm packages missing: run `make setup`"
    result = subprocess.run(
        ["node", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"validator output: {result.stdout!r} {result.stderr!r}"
    return json.loads(lines[0])


@pytest.mark.parametrize("sku", SKUS)
def test_job_succeeds_and_product_has_its_real_size(published, sku):
    item = published[sku]
    assert item.job["status"] == "succeeded", item.job
    assert item.job["sku"] == sku
    product = item.product
    assert set(product["assets"]) >= {"glb", "usdz", "report"}
    dims = product["dimensions_m"]
    assert_close((dims["width"], dims["height"], dims["depth"]), item.case.dimensions_m, "dimensions_m")


@pytest.mark.parametrize("sku", SKUS)
def test_published_files_are_served_for_storefronts_and_phones(published, public_http, sku, tmp_path):
    assets = published[sku].product["assets"]
    for kind, content_type in ASSET_TYPES.items():
        response = public_http.get(assets[kind], headers={"Origin": STOREFRONT})
        assert response.status_code == 200, (kind, response.status_code, response.text[:300])
        headers = response.headers
        assert headers["content-type"].split(";")[0] == content_type, kind
        cache = {d.strip() for d in headers.get("cache-control", "").split(",")}
        assert {"public", "max-age=31536000", "immutable"} <= cache, (kind, headers.get("cache-control"))
        assert headers.get("access-control-allow-origin") == "*", kind
        assert headers.get("access-control-allow-credentials") is None, kind
        assert headers.get("x-content-type-options") == "nosniff", kind
        (tmp_path / f"model.{kind}").write_bytes(response.content)
    json.loads((tmp_path / "model.report").read_bytes())


@pytest.mark.parametrize("sku", SKUS)
def test_published_glb_is_valid_and_at_scale(published, public_http, sku, tmp_path):
    item = published[sku]
    glb = tmp_path / "model.glb"
    glb.write_bytes(public_http.get(item.product["assets"]["glb"]).content)
    verdict = validate_glb(glb)
    assert verdict["numErrors"] == 0, verdict["messages"]
    # Measured here, independently of what the service reports about itself.
    scene = trimesh.load(io.BytesIO(glb.read_bytes()), file_type="glb")
    assert_close(tuple(float(x) for x in scene.extents), item.case.dimensions_m, "GLB bounding box")
    (low_x, low_y, low_z), (high_x, _, high_z) = scene.bounds
    assert low_y == pytest.approx(0.0, abs=1e-4), "the product must stand on the floor (y=0)"
    assert low_x + high_x == pytest.approx(0.0, abs=1e-4), "the origin must be centred in x"
    if item.case.placement == "wall":
        assert low_z == pytest.approx(0.0, abs=1e-4), "a wall item's back must be on the wall (z=0)"
    else:
        assert low_z + high_z == pytest.approx(0.0, abs=1e-4), "the origin must be centred in z"


@pytest.mark.parametrize("sku", SKUS)
def test_published_usdz_passes_arkit_checks(published, public_http, sku, tmp_path):
    usdz = tmp_path / "model.usdz"
    usdz.write_bytes(public_http.get(published[sku].product["assets"]["usdz"]).content)
    assert check_usdz(usdz) == []


@pytest.mark.parametrize("sku", SKUS)
def test_view_page_shows_the_published_model_with_our_own_bundle(server, published, public_http, sku):
    item = published[sku]
    page_url = f"{server.url}/view/{sku}"
    response = public_http.get(page_url)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    page = PageReferences(response.text)
    # The query carries Scene Viewer's title (and link): issue 7.
    assert page.viewer.get("src").split("?")[0] == item.product["assets"]["glb"]
    assert page.viewer.get("ios-src") == item.product["assets"]["usdz"]
    assert page.viewer.get("ar-placement") == item.case.placement
    assert page.viewer.get("ar-scale") == "fixed"
    assert "<b>" not in response.text, "the product name must be escaped"

    bundles = [s["src"] for s in page.scripts if s.get("type") == "module"]
    assert bundles == ["/static/vendor/model-viewer/model-viewer.min.js", "/static/viewer.js"]
    for script in page.scripts:
        url = urljoin(page_url, script["src"])
        assert urlsplit(url).netloc == urlsplit(server.url).netloc, f"{url} is not served by us"
        served = public_http.get(url)
        assert served.status_code == 200, url
        assert served.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript"), url
    bundle = public_http.get(urljoin(page_url, bundles[0]))
    assert b'customElements.define("model-viewer"' in bundle.content


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("model-viewer-config.js", "text/javascript"),
        ("viewer.css", "text/css"),
        ("vendor/model-viewer/model-viewer.min.js", "text/javascript"),
        ("vendor/meshopt_decoder.js", "text/javascript"),
        ("vendor/draco/draco_wasm_wrapper.js", "text/javascript"),
        ("vendor/draco/draco_decoder.wasm", "application/wasm"),
        ("vendor/basis/basis_transcoder.js", "text/javascript"),
        ("vendor/basis/basis_transcoder.wasm", "application/wasm"),
    ],
)
def test_viewer_files_and_decoders_are_served_with_their_types(server, public_http, path, content_type):
    response = public_http.get(f"{server.url}/static/{path}")
    assert response.status_code == 200, path
    served = response.headers["content-type"].split(";")[0]
    # Python < 3.12 names JavaScript application/javascript; browsers accept both.
    accepted = {content_type, "application/javascript"} if content_type == "text/javascript" else {content_type}
    assert served in accepted, (path, served)


def test_unknown_product_page_is_a_404_page(server, public_http):
    response = public_http.get(f"{server.url}/view/NO-SUCH-SKU")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<model-viewer" not in response.text
