"""The storefront surface over HTTP (the app in-process, conversions faked): product storefront
fields, security headers of the viewer and embed pages, embedding settings, embed snippets,
oEmbed, QR codes, the event beacon and the stats built from it."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
import zxingcpp
from PIL import Image

GLB = b"glTF\x02\x00\x00\x00 sofa"
SHOP = "https://shop.example.test"


def csp(response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in policy.split("; ")}


def error_code(response) -> str:
    return response.json()["error"]["code"]


# Product fields -------------------------------------------------------------------------------


def test_storefront_fields_are_set_on_create_changed_by_patch_and_cleared_by_null(api):
    created = api.create_product("SOFA-1", price="$499", call_to_action="Add to cart", locale="en-US")
    assert (created["price"], created["call_to_action"], created["locale"]) == ("$499", "Add to cart", "en-US")
    patched = api.client.patch(
        "/v1/products/SOFA-1", json={"price": None, "link": f"{SHOP}/sofa", "name": "Oak sofa"}, headers=api.headers
    ).json()
    assert "price" not in patched and patched["link"] == f"{SHOP}/sofa" and patched["name"] == "Oak sofa"
    assert patched["call_to_action"] == "Add to cart", "fields not sent stay as they were"


@pytest.mark.parametrize(
    "body",
    [
        {"link": "javascript:alert(1)"},
        {"link": "https://shop.test/a b"},
        {"price": "1\n2"},
        {"call_to_action": "x" * 65},
        {"locale": "en_US; drop"},
        {"name": None},
        {"sku": "OTHER"},
    ],
)
def test_bad_storefront_fields_are_422(api, body):
    api.create_product("SOFA-1")
    response = api.client.patch("/v1/products/SOFA-1", json=body, headers=api.headers)
    assert response.status_code == 422 and error_code(response) == "VALIDATION_ERROR"


def test_patch_needs_a_key_and_the_right_tenant(api, other_api):
    api.create_product("SOFA-1")
    assert api.client.patch("/v1/products/SOFA-1", json={"price": "1"}).status_code == 401
    assert (
        other_api.client.patch("/v1/products/SOFA-1", json={"price": "1"}, headers=other_api.headers).status_code == 404
    )


# Pages and their headers ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/view/SOFA-1", "/embed/SOFA-1"])
def test_pages_send_a_strict_csp_whose_frame_ancestors_follow_the_tenant_setting(api, path):
    api.publish("SOFA-1", GLB)
    response = api.client.get(path)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = csp(response)
    assert policy["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'self'"
    assert "<script>" not in response.text and " on" not in re.sub(r'"[^"]*"', "", response.text).lower()

    put = api.client.put(
        "/v1/settings/embedding", json={"allowed_origins": [f"{SHOP}/", "http://127.0.0.1:8080"]}, headers=api.headers
    )
    assert put.json() == {"allowed_origins": ["http://127.0.0.1:8080", SHOP]}
    assert csp(api.client.get(path))["frame-ancestors"] == f"'self' http://127.0.0.1:8080 {SHOP}"


def test_not_found_pages_also_send_the_headers(api):
    for path in ("/view/NOPE", "/embed/NOPE", "/embed/other/NOPE"):
        response = api.client.get(path)
        assert response.status_code == 404 and "frame-ancestors 'self'" in response.headers["content-security-policy"]


def test_embed_page_is_chromeless(api):
    api.publish("SOFA-1", GLB)
    html = api.client.get("/embed/SOFA-1").text
    assert "<model-viewer" in html and 'class="embed"' in html
    assert "<h1" not in html and "product-hint" not in html


@pytest.mark.parametrize(
    "origins",
    [["https://shop.test/path"], ["*"], ["javascript:alert(1)"], ["shop.test"], ["https://a.test"] * 51, "x"],
)
def test_bad_allowed_origins_are_422(api, origins):
    response = api.client.put("/v1/settings/embedding", json={"allowed_origins": origins}, headers=api.headers)
    assert response.status_code == 422 and error_code(response) == "VALIDATION_ERROR"


def test_allowed_origins_are_per_tenant_and_need_a_key(api, other_api):
    api.client.put("/v1/settings/embedding", json={"allowed_origins": [SHOP]}, headers=api.headers)
    assert other_api.get("/v1/settings/embedding").json() == {"allowed_origins": []}
    assert api.client.get("/v1/settings/embedding").status_code == 401
    other_api.publish("LAMP-1", GLB)
    assert csp(api.client.get("/view/other-shop/LAMP-1"))["frame-ancestors"] == "'self'"


# Embed snippets and oEmbed --------------------------------------------------------------------


def test_embed_json_is_public_with_absolute_urls(api):
    product = api.publish("SOFA-1", GLB)
    response = api.client.get("/v1/products/SOFA-1/embed")  # no key
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert body["view_url"] == "http://testserver/view/SOFA-1"
    assert body["embed_url"] == "http://testserver/embed/SOFA-1"
    assert body["oembed_url"] == "http://testserver/oembed?url=http%3A%2F%2Ftestserver%2Fview%2FSOFA-1"
    assert f'src="{product["assets"]["glb"]}?title=Sofa"' in body["web_component"]
    assert (
        '<script type="module" src="http://testserver/static/vendor/model-viewer/model-viewer.min.js">'
        in body["web_component"]
    )
    assert '<iframe src="http://testserver/embed/SOFA-1"' in body["iframe"]


def test_embed_json_for_other_tenants_and_unpublished_products(api, other_api):
    other_api.publish("LAMP-1", GLB)
    api.create_product("DRAFT-1")
    assert api.client.get("/v1/products/LAMP-1/embed").status_code == 404  # not the default tenant's
    by_query = api.client.get("/v1/products/LAMP-1/embed", params={"tenant": "other-shop"}).json()
    assert by_query["view_url"] == "http://testserver/view/other-shop/LAMP-1"
    assert other_api.get("/v1/products/LAMP-1/embed").json() == by_query  # the key names the tenant
    assert api.client.get("/v1/products/DRAFT-1/embed").status_code == 404
    bad = api.client.get("/v1/products/LAMP-1/embed", params={"tenant": "../x"})
    assert bad.status_code == 422
    assert api.client.get("/v1/products/LAMP-1/embed", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_oembed_answers_rich_html_for_our_pages(api, other_api):
    api.publish("SOFA-1", GLB)
    other_api.publish("LAMP-1", GLB)
    body = api.client.get("/oembed", params={"url": "http://testserver/view/SOFA-1"}).json()
    assert {k: body[k] for k in ("version", "type", "title", "width", "height")} == {
        "version": "1.0",
        "type": "rich",
        "title": "Sofa",
        "width": 640,
        "height": 480,
    }
    assert '<iframe src="http://testserver/embed/SOFA-1"' in body["html"]
    small = api.client.get(
        "/oembed", params={"url": "http://testserver/embed/other-shop/LAMP-1", "maxwidth": 320}
    ).json()
    assert (small["width"], small["height"]) == (320, 240)
    assert 'src="http://testserver/embed/other-shop/LAMP-1"' in small["html"]


def test_oembed_refuses_urls_that_are_not_our_published_pages(api):
    api.publish("SOFA-1", GLB)
    for url in (
        "https://evil.test/view/SOFA-1",
        "http://testserver.evil.test/view/SOFA-1",
        "http://testserver/files/objects/x.glb",
        "http://testserver/view/NOPE",
        "http://testserver/view/a/b/c",
        "http://testserver/view/..%2f..",
        "not a url",
    ):
        response = api.client.get("/oembed", params={"url": url})
        assert response.status_code == 404 and error_code(response) == "NOT_FOUND", url


def test_oembed_xml_is_501(api):
    api.publish("SOFA-1", GLB)
    response = api.client.get("/oembed", params={"url": "http://testserver/view/SOFA-1", "format": "xml"})
    assert response.status_code == 501 and error_code(response) == "FORMAT_NOT_SUPPORTED"


# QR codes -------------------------------------------------------------------------------------


def test_qr_png_decodes_to_the_view_page_at_high_error_correction(api):
    api.publish("SOFA-1", GLB)
    response = api.client.get("/v1/products/SOFA-1/qr.png", params={"scale": 4})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.content)))
    assert code.text == "http://testserver/view/SOFA-1" and code.ec_level == "H"


def test_qr_svg_is_scalable_escaped_and_inert(api):
    api.client.post("/v1/products", json={"sku": "X-1", "name": "<script>alert(1)</script>"}, headers=api.headers)
    api.publish("X-1", GLB)
    response = api.client.get("/v1/products/X-1/qr.svg")
    assert response.headers["content-type"] == "image/svg+xml"
    assert "script-src" not in response.headers["content-security-policy"]
    root = ET.fromstring(response.content)
    assert root.get("viewBox") and root.get("width") is None  # prints at any size
    assert root.find("{http://www.w3.org/2000/svg}title").text == "QR code: <script>alert(1)</script> in 3D"
    assert b"<script" not in response.content


def test_qr_of_unknown_or_unpublished_products_and_bad_scale(api):
    api.create_product("DRAFT-1")
    assert api.client.get("/v1/products/DRAFT-1/qr.svg").status_code == 404
    assert api.client.get("/v1/products/NOPE/qr.png").status_code == 404
    api.publish("SOFA-1", GLB)
    for scale in (0, 41, "x"):
        assert api.client.get("/v1/products/SOFA-1/qr.png", params={"scale": scale}).status_code == 422


# Events and stats -----------------------------------------------------------------------------


def send(api, body, content_type="text/plain;charset=UTF-8"):
    return api.client.post("/v1/events", content=body, headers={"Content-Type": content_type})


def test_events_are_counted_per_day_and_shown_in_stats_and_the_list(api):
    api.publish("SOFA-1", GLB)
    for event in ("view", "view", "view", "ar_button_shown", "ar_button_shown", "ar_launched", "quick_look_cta_tapped"):
        response = send(api, f'{{"sku": "SOFA-1", "type": "{event}"}}')
        assert response.status_code == 204 and response.headers["access-control-allow-origin"] == "*"
    assert send(api, '{"sku": "SOFA-1", "type": "model_loaded"}', "application/json").status_code == 204

    stats = api.get("/v1/products/SOFA-1/stats", params={"days": 7}).json()
    assert [day["date"] for day in stats["days"]][-1] == datetime.now(UTC).date().isoformat()
    assert len(stats["days"]) == 7 and all(set(d["counts"]) == set(stats["totals"]) for d in stats["days"])
    today = stats["days"][-1]["counts"]
    assert (today["view"], today["model_loaded"], today["ar_button_shown"], today["ar_launched"]) == (3, 1, 2, 1)
    assert today["quick_look_cta_tapped"] == 1 and stats["totals"] == today
    assert stats["ar_launch_rate"] == 0.5

    (listed,) = api.get("/v1/products").json()["products"]
    assert listed["engagement"] == {"views": 3, "ar_button_shown": 2, "ar_launches": 1, "ar_launch_rate": 0.5}


def test_no_events_yet_means_no_rate(api):
    api.publish("SOFA-1", GLB)
    stats = api.get("/v1/products/SOFA-1/stats").json()
    assert len(stats["days"]) == 30 and stats["ar_launch_rate"] is None and set(stats["totals"].values()) == {0}


BAD_EVENTS = [
    (b"not json", 400, "INVALID_JSON"),
    (b"\xff\xfe", 400, "INVALID_JSON"),
    (b'["view"]', 422, "VALIDATION_ERROR"),
    (b'{"sku": "SOFA-1", "type": "purchase"}', 422, "VALIDATION_ERROR"),
    (b'{"sku": "SOFA-1", "type": "view", "visitor": "x"}', 422, "VALIDATION_ERROR"),
    (b'{"sku": "../x", "type": "view"}', 422, "VALIDATION_ERROR"),
    (b'{"sku": "NOPE", "type": "view"}', 404, "NOT_FOUND"),
    (b'{"sku": "SOFA-1", "tenant": "other-shop", "type": "view"}', 404, "NOT_FOUND"),
    (b'{"sku": "SOFA-1", "type": "view", "pad": "' + b"x" * 2000 + b'"}', 413, "EVENT_TOO_LARGE"),
]


def test_bad_events_are_4xx_and_not_counted(api):
    api.publish("SOFA-1", GLB)
    for body, status, code in BAD_EVENTS:
        response = send(api, body)
        assert (response.status_code, error_code(response)) == (status, code), body[:60]
    assert set(api.get("/v1/products/SOFA-1/stats").json()["totals"].values()) == {0}


def test_events_for_drafts_are_refused(api):
    api.create_product("DRAFT-1")
    assert send(api, '{"sku": "DRAFT-1", "type": "view"}').status_code == 404


def test_events_are_rate_limited_per_address(start_api):
    api = start_api(events_per_minute=3)
    api.publish("SOFA-1", GLB)
    codes = [send(api, '{"sku": "SOFA-1", "type": "view"}').status_code for _ in range(5)]
    assert codes == [204, 204, 204, 429, 429]
    limited = send(api, '{"sku": "SOFA-1", "type": "view"}')
    assert error_code(limited) == "RATE_LIMITED" and 1 <= int(limited.headers["retry-after"]) <= 61
    assert api.get("/v1/products/SOFA-1/stats").json()["totals"]["view"] == 3


def test_stats_need_a_key_and_stay_within_the_tenant(api, other_api):
    api.publish("SOFA-1", GLB)
    assert api.client.get("/v1/products/SOFA-1/stats").status_code == 401
    assert other_api.get("/v1/products/SOFA-1/stats").status_code == 404
    assert api.get("/v1/products/SOFA-1/stats", params={"days": 0}).status_code == 422


# Static files for storefronts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/viewer.js", "text/javascript"),
        ("/static/events.js", "text/javascript"),
        ("/static/vendor/model-viewer/model-viewer.min.js", "text/javascript"),
        ("/static/vendor/draco/draco_decoder.wasm", "application/wasm"),
        ("/static/viewer.css", "text/css"),
    ],
)
def test_static_files_load_from_other_origins(api, path, content_type):
    response = api.client.get(path, headers={"Origin": SHOP})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_publishing_a_file_that_cannot_be_drawn_still_publishes_without_a_poster(api, caplog):
    product = api.publish("SOFA-1", GLB)
    assert "poster" not in product["assets"]
    assert any("without a poster" in record.getMessage() for record in caplog.records)
