"""The viewer's small pure parts: dimension labels, AR link parameters, the pages' CSP, QR
codes and the poster renderer's input checks (its real rendering is tested end to end, in
tests/e2e/test_viewer_browser.py, on posters the real server made)."""

from __future__ import annotations

import io
import struct

import pytest
import zxingcpp
from PIL import Image

from viewer.ar_links import quick_look_src, scene_viewer_src
from viewer.dimensions import dimension_hotspots, format_length, label_unit
from viewer.poster import PosterError, _static_file, _to_webp, check_glb
from viewer.qr import qr_png
from viewer.security import page_headers


@pytest.mark.parametrize(
    ("locale", "unit"),
    [
        (None, "cm"),
        ("en", "cm"),
        ("en-GB", "cm"),
        ("fr-FR", "cm"),
        ("en-US", "in"),
        ("es-us", "in"),
        ("zh-Hant-US", "in"),
        ("my-MM", "in"),
        ("en-150", "cm"),
    ],
)
def test_label_unit_follows_the_region(locale, unit):
    assert label_unit(locale) == unit


@pytest.mark.parametrize(
    ("metres", "unit", "text"),
    [
        (1.2, "cm", "120 cm"),
        (0.804, "cm", "80 cm"),
        (0.045, "cm", "4.5 cm"),
        (1.2, "in", "47 in"),
        (0.8, "in", "31.5 in"),
        (0.0254 * 10.3, "in", "10.5 in"),
    ],
)
def test_lengths_read_like_a_shop_writes_them(metres, unit, text):
    assert format_length(metres, unit) == text


def test_hotspots_sit_on_the_front_edges_for_floor_and_wall_items():
    size = {"width": 2.0, "height": 1.0, "depth": 0.5}
    floor = {h.name: h.position for h in dimension_hotspots(size, "floor", None)}
    wall = {h.name: h.position for h in dimension_hotspots(size, "wall", None)}
    assert floor == {"width": "0.0000 0.0000 0.2500", "height": "1.0000 0.5000 0.2500", "depth": "1.0000 0.0000 0.0000"}
    # Wall items have their back at z = 0 (processing/normalize.py): the front is at z = depth.
    assert wall == {"width": "0.0000 0.0000 0.5000", "height": "1.0000 0.5000 0.5000", "depth": "1.0000 0.0000 0.2500"}


def test_scene_viewer_parameters_keep_the_urls_own_query():
    src = scene_viewer_src("https://b.test/m.glb?X-Sig=a%2Fb&title=old", title="A & B", link="https://s.test/p?a=1")
    assert src == "https://b.test/m.glb?X-Sig=a%2Fb&title=A%20%26%20B&link=https%3A%2F%2Fs.test%2Fp%3Fa%3D1"
    assert scene_viewer_src("https://b.test/m.glb", title=None, link=None) == "https://b.test/m.glb"


def test_quick_look_banner_only_with_a_call_to_action_or_price():
    assert (
        quick_look_src(
            "https://b.test/m.usdz", call_to_action=None, checkout_title="T", checkout_subtitle=None, price=None
        )
        == "https://b.test/m.usdz"
    )
    banner = quick_look_src(
        "https://b.test/m.usdz", call_to_action=None, checkout_title="T#1", checkout_subtitle=None, price="9 €"
    )
    assert banner == "https://b.test/m.usdz#checkoutTitle=T%231&price=9%20%E2%82%AC"


def test_csp_lists_asset_origins_once_and_never_inline_script():
    headers = page_headers(
        frame_ancestors=["https://shop.test"],
        asset_urls=["https://cdn.test/a.glb", "https://cdn.test/b.usdz", None, "/files/x.webp"],
    )
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self' 'wasm-unsafe-eval';" in policy and "unsafe-inline' " not in policy.split("style-src")[0]
    assert "img-src 'self' https://cdn.test data: blob:" in policy
    assert policy.endswith("frame-ancestors 'self' https://shop.test")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_qr_png_survives_losing_a_fifth_of_its_modules():
    """Level H is meant for print: cover part of the code (a sticker, a fold) and it still reads."""
    image = Image.open(io.BytesIO(qr_png("https://vitrine.test/view/SOFA-1", 8))).convert("L")
    side = image.size[0]
    image.paste(255, (side // 2, side // 2, side // 2 + side // 5, side // 2 + side // 5))
    (code,) = zxingcpp.read_barcodes(image)
    assert code.text == "https://vitrine.test/view/SOFA-1"
    with pytest.raises(ValueError):
        qr_png("https://x.test", 0)


def _glb(length_delta: int = 0, version: int = 2) -> bytes:
    body = b"\x00" * 8
    return b"glTF" + struct.pack("<II", version, 12 + len(body) + length_delta) + body


@pytest.mark.parametrize("data", [b"", b"GLB:glTF", _glb(version=1), _glb(length_delta=4), _glb(length_delta=-4)])
def test_poster_refuses_what_is_not_a_whole_glb_before_starting_a_browser(data):
    with pytest.raises(PosterError):
        check_glb(data)
    check_glb(_glb())


@pytest.mark.parametrize(
    "path", ["/static/../pages.py", "/static/vendor/../../poster.py", "/static/", "/static/nope.js"]
)
def test_poster_page_serves_only_static_files(path):
    assert _static_file(path) is None
    assert _static_file("/static/viewer.css") is not None


def test_poster_must_be_the_full_size_with_alpha():
    def png(size, mode):
        buffer = io.BytesIO()
        Image.new(mode, size).save(buffer, "PNG")
        return buffer.getvalue()

    with pytest.raises(PosterError):
        _to_webp(png((512, 512), "RGBA"), 1024)  # the quarter picture of a lowered render scale
    with pytest.raises(PosterError):
        _to_webp(png((64, 64), "RGB"), 64)
    webp = Image.open(io.BytesIO(_to_webp(png((64, 64), "RGBA"), 64)))
    assert webp.format == "WEBP" and webp.mode == "RGBA"
