"""Public, keyless surface: published files under /files and viewer pages under /view."""

from __future__ import annotations

import re

import pytest

from tests.conftest import FAKES

GLB = b"glTF\x02\x00\x00\x00 sofa"


def test_published_product_has_absolute_asset_urls_and_measured_dimensions(api):
    product = api.publish("SOFA-1", GLB)
    assert product["dimensions_m"] == {"width": 2.0, "height": 0.9, "depth": 0.85}
    assert product["view_url"] == "http://testserver/view/SOFA-1"
    for kind, ext in (("glb", "glb"), ("usdz", "usdz"), ("report", "json")):
        assert re.fullmatch(rf"http://testserver/files/objects/[0-9a-f]{{64}}\.{ext}", product["assets"][kind])


def test_public_base_url_setting_makes_the_urls(start_api):
    api = start_api(public_base_url="https://cdn.example.test/shop/")
    product = api.publish("SOFA-1", GLB)
    assert product["assets"]["glb"].startswith("https://cdn.example.test/shop/files/objects/")
    assert product["view_url"] == "https://cdn.example.test/shop/view/SOFA-1"


def test_published_files_are_served_with_public_caching_headers(api):
    assets = api.publish("SOFA-1", GLB)["assets"]
    for kind, content_type in (
        ("glb", "model/gltf-binary"),
        ("usdz", "model/vnd.usdz+zip"),
        ("report", "application/json"),
    ):
        response = api.client.get(assets[kind])  # no key: these are public
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
    assert api.client.get(assets["glb"]).content == b"GLB:" + GLB
    head = api.client.head(assets["usdz"])
    assert head.status_code == 200 and head.headers["content-length"] == str(len(b"USDZ:" + GLB))


def test_only_currently_published_objects_are_reachable(api):
    first = api.publish("SOFA-1", GLB)["assets"]
    second = api.publish("SOFA-1", GLB + b" v2")["assets"]
    assert first["glb"] != second["glb"]
    assert api.client.get(second["glb"]).status_code == 200
    assert api.client.get(first["glb"]).json()["error"]["code"] == "NOT_FOUND"  # superseded

    storage = api.app.state.storage
    originals = list(storage.list("uploads/"))
    manifests = list(storage.list("manifests/"))
    assert originals and manifests
    for key in (
        originals
        + manifests
        + ["objects/" + "0" * 64 + ".glb", "%2e%2e/vitrine.db", "objects/%2e%2e/%2e%2e/vitrine.db"]
    ):
        response = api.client.get(f"/files/{key}")
        assert response.status_code == 404, key
        assert response.json()["error"]["code"] == "NOT_FOUND"


def test_deleted_products_files_are_no_longer_served(api):
    assets = api.publish("SOFA-1", GLB)["assets"]
    assert api.client.delete("/v1/products/SOFA-1", headers=api.headers).status_code == 204
    assert api.client.get(assets["glb"]).status_code == 404


def test_view_page_of_a_published_product(api):
    product = api.publish("SOFA-1", GLB)
    response = api.client.get("/view/SOFA-1")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    viewer = re.search(r"<model-viewer\b[^>]*>", response.text).group(0)
    assert f'src="{product["assets"]["glb"]}?title=Sofa"' in viewer  # Scene Viewer's title: the name
    assert f'ios-src="{product["assets"]["usdz"]}"' in viewer
    assert 'ar-placement="floor"' in viewer and 'ar-scale="fixed"' in viewer
    bundle = re.search(r'<script[^>]+src="(/static/[^"]+model-viewer[^"]*\.js)"', response.text).group(1)
    assert bundle.startswith("/static/vendor/")


@pytest.mark.parametrize("web_textures, shown", [("webp", True), ("ktx2", False)])
def test_view_page_names_the_web_flavour_for_the_inline_view_unless_it_has_ktx2_textures(start_api, web_textures,
                                                                                        shown):
    """model-viewer-config.js swaps it in where AR is not handed `src`; KTX2 would need a CSP
    exception for its transcoder, so those products keep the AR file inline too."""
    api = start_api(convert_function=f"{FAKES}:succeed_with_web")
    api.create_product("SOFA-1")
    job = api.upload("SOFA-1", GLB, web_textures=web_textures).json()["job"]
    assert api.wait_for_job(job["id"])["status"] == "succeeded"
    assets = api.get("/v1/products/SOFA-1").json()["assets"]
    response = api.client.get("/view/SOFA-1")
    viewer = re.search(r"<model-viewer\b[^>]*>", response.text).group(0)
    assert f'src="{assets["glb"]}?title=Sofa"' in viewer  # what Scene Viewer is handed, unchanged
    assert ("data-vitrine-web-src" in viewer) == shown
    if shown:
        assert f'data-vitrine-web-src="{assets["glb_web"]}"' in viewer


def test_view_page_is_404_until_published_and_for_unknown_skus(api):
    api.create_product("SOFA-1")
    for url in ("/view/SOFA-1", "/view/NOPE"):
        response = api.client.get(url)
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")


def test_other_tenants_pages_live_under_their_name(api, other_api):
    product = other_api.publish("LAMP-1", GLB)
    assert product["view_url"] == "http://testserver/view/other-shop/LAMP-1"
    assert api.client.get("/view/other-shop/LAMP-1").status_code == 200
    assert api.client.get("/view/LAMP-1").status_code == 404  # not the default tenant's
    assert api.client.get("/view/default/LAMP-1").status_code == 404


def test_names_are_escaped_on_the_page(api):
    api.client.post("/v1/products", json={"sku": "X-1", "name": "<script>alert(1)</script>"}, headers=api.headers)
    api.publish("X-1", GLB)
    page = api.client.get("/view/X-1").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
