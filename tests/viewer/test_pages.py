"""The shopper pages: hostile catalog text stays text, the viewer is wired for AR at real size,
and everything the page loads is served by us (no CDN, no inline script)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from viewer.pages import (
    MODEL_VIEWER_BUNDLE,
    STATIC_DIR,
    STATIC_URL,
    ViewerProduct,
    iframe_snippet,
    render_embed_page,
    render_not_found_page,
    render_view_page,
    web_component_snippet,
)

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> "Sofa" & \'Co\''
GLB = "https://cdn.example.test/objects/ab12.glb"
USDZ = "https://cdn.example.test/objects/cd34.usdz"


class Element:
    def __init__(self, tag: str, attrs: list[tuple[str, str | None]]):
        self.tag = tag
        self.attrs = dict(attrs)
        self.text = ""


class Collector(HTMLParser):
    """Every element with its attributes and direct text, in document order."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs)
        self.elements.append(element)
        if tag not in {"meta", "link", "img", "br", "input"}:
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop().tag == tag:
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1].text += data

    def find(self, tag: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag]


EVENTS = "https://vitrine.example.test/v1/events"
QR = "https://vitrine.example.test/v1/products/SOFA-1/qr.svg"
POSTER = "https://cdn.example.test/objects/ef56.webp"
PAGE_SCRIPTS = [f"{STATIC_URL}/model-viewer-config.js", MODEL_VIEWER_BUNDLE, f"{STATIC_URL}/viewer.js"]


def product(**overrides) -> ViewerProduct:
    args = {
        "tenant": "default",
        "name": "Oak sofa",
        "sku": "SOFA-1",
        "glb_url": GLB,
        "usdz_url": USDZ,
        "placement": "floor",
        "events_url": EVENTS,
        "qr_url": QR,
        "poster_url": POSTER,
        "dimensions_m": {"width": 2.0, "height": 0.9, "depth": 0.85},
    }
    return ViewerProduct(**{**args, **overrides})


def view(**overrides) -> str:
    return render_view_page(product(**overrides))


@pytest.mark.parametrize("render", [render_view_page, render_embed_page])
def test_hostile_catalog_text_stays_text(render):
    hostile = {
        key: HOSTILE for key in ("name", "price", "call_to_action", "checkout_title", "checkout_subtitle", "title")
    }
    html = render(product(sku=HOSTILE, **hostile))
    page = Collector(html)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert [s.attrs.get("src") for s in page.find("script")] == PAGE_SCRIPTS
    assert [i.attrs["src"] for i in page.find("img")] == [QR]
    assert page.find("title")[0].text.startswith(HOSTILE)
    (viewer,) = page.find("model-viewer")
    assert viewer.attrs["alt"] == f"3D model of {HOSTILE}"
    assert viewer.attrs["data-vitrine-sku"] == HOSTILE
    # In the URLs, catalog text is percent-encoded: it cannot add parameters of its own.
    assert viewer.attrs["src"].startswith(GLB + "?title=%3Cscript%3E")
    assert "&" not in viewer.attrs["ios-src"].split("#", 1)[1].replace("&checkoutTitle=", "").replace(
        "&checkoutSubtitle=", ""
    ).replace("&price=", "")
    if render is render_view_page:
        assert page.find("h1")[0].text.strip() == HOSTILE


def test_urls_cannot_break_out_of_their_attributes():
    hostile_url = 'https://x.test/a.glb?" onload="alert(1)'
    viewer = Collector(view(glb_url=hostile_url, link='https://shop.test/" onclick="x')).find("model-viewer")[0]
    assert viewer.attrs["src"].startswith("https://x.test/a.glb?")
    assert not any(name.startswith("on") for name in viewer.attrs)


@pytest.mark.parametrize("placement", ["floor", "wall"])
def test_model_viewer_is_set_up_for_ar_at_real_size(placement):
    page = Collector(view(placement=placement))
    (viewer,) = page.find("model-viewer")
    expected = {
        "src": GLB + "?title=Oak%20sofa",
        "ios-src": USDZ,
        "poster": POSTER,
        "loading": "auto",
        "ar-modes": "webxr scene-viewer quick-look",
        "ar-scale": "fixed",
        "ar-placement": placement,
        "touch-action": "pan-y",
        "environment-image": "neutral",
        "shadow-intensity": "1",
        "alt": "3D model of Oak sofa",
        "data-vitrine-events": EVENTS,
    }
    assert {key: viewer.attrs.get(key) for key in expected} == expected
    assert "ar" in viewer.attrs and "camera-controls" in viewer.attrs
    buttons = [b for b in page.find("button") if b.attrs.get("slot") == "ar-button"]
    assert [b.text.strip() for b in buttons] == ["View in your room"]


def test_shop_text_reaches_scene_viewer_and_the_quick_look_banner():
    viewer = Collector(
        view(
            title="Sofa «Oslo»",
            link="https://shop.test/sofa?id=1&c=2",
            price="$1,299",
            call_to_action="Add to cart",
            checkout_subtitle="3 seats & oak",
        )
    ).find("model-viewer")[0]
    assert (
        viewer.attrs["src"]
        == GLB + "?title=Sofa%20%C2%ABOslo%C2%BB&link=https%3A%2F%2Fshop.test%2Fsofa%3Fid%3D1%26c%3D2"
    )
    assert viewer.attrs["ios-src"] == (
        USDZ + "#callToAction=Add%20to%20cart&checkoutTitle=Sofa%20%C2%ABOslo%C2%BB"
        "&checkoutSubtitle=3%20seats%20%26%20oak&price=%241%2C299"
    )
    assert viewer.attrs["data-vitrine-link"] == "https://shop.test/sofa?id=1&c=2"


def test_dimension_labels_are_hotspots_with_a_toggle():
    page = Collector(view(locale="en-US"))
    spots = [e for e in page.elements if e.attrs.get("slot", "").startswith("hotspot-")]
    assert [(s.attrs["slot"], s.text) for s in spots] == [
        ("hotspot-width", "78.5 in"),
        ("hotspot-height", "35.5 in"),
        ("hotspot-depth", "33.5 in"),
    ]
    toggles = [b for b in page.find("button") if "dimensions-toggle" in b.attrs.get("class", "")]
    assert [t.attrs["aria-pressed"] for t in toggles] == ["true"]
    no_size = Collector(view(dimensions_m=None))
    assert not [e for e in no_size.elements if "hotspot" in e.attrs.get("slot", "")]
    assert not [b for b in no_size.find("button") if "dimensions-toggle" in b.attrs.get("class", "")]


def test_desktop_qr_code_is_hidden_until_the_script_finds_no_ar():
    page = Collector(view())
    (section,) = [e for e in page.elements if e.attrs.get("class") == "qr"]
    assert "hidden" in section.attrs
    (button,) = [b for b in page.find("button") if b.attrs.get("class") == "qr-button"]
    assert button.text.strip() == "View in your room"
    assert "qr-button" in render_embed_page(product())  # storefront shoppers on desktops get it too


def test_unknown_placement_is_refused():
    with pytest.raises(ValueError, match="placement"):
        view(placement='ceiling" onload="x')


def test_scripts_are_local_files_that_run_config_first_and_never_inline():
    page = Collector(view())
    scripts = page.find("script")
    assert [s.attrs.get("src") for s in scripts] == PAGE_SCRIPTS
    assert MODEL_VIEWER_BUNDLE == "/static/vendor/model-viewer/model-viewer.min.js"
    # The config is a classic blocking script, the bundle a (deferred) module: config runs first.
    assert "type" not in scripts[0].attrs and "async" not in scripts[0].attrs
    assert [s.attrs.get("type") for s in scripts[1:]] == ["module", "module"]
    assert all(s.text.strip() == "" for s in scripts)
    assert not any(name.startswith("on") for e in page.elements for name in e.attrs)
    assert not any("style" in e.attrs for e in page.elements)


def test_web_component_snippet_has_absolute_urls_and_our_scripts():
    snippet = web_component_snippet(product(), "https://vitrine.example.test")
    page = Collector(snippet)
    assert [s.attrs["src"] for s in page.find("script")] == [
        "https://vitrine.example.test/static/model-viewer-config.js",
        "https://vitrine.example.test" + MODEL_VIEWER_BUNDLE,
        "https://vitrine.example.test/static/events.js",
    ]
    (viewer,) = page.find("model-viewer")
    assert viewer.attrs["src"].startswith(GLB) and viewer.attrs["ios-src"] == USDZ
    assert viewer.attrs["ar-scale"] == "fixed" and viewer.attrs["data-vitrine-events"] == EVENTS
    assert viewer.attrs["loading"] == "lazy" and viewer.attrs["poster"] == POSTER  # often below the fold


def test_iframe_snippet_escapes_the_name():
    (frame,) = Collector(iframe_snippet("https://v.test/embed/SOFA-1", HOSTILE)).find("iframe")
    assert frame.attrs["src"] == "https://v.test/embed/SOFA-1"
    assert frame.attrs["title"] == f"{HOSTILE} in 3D"
    assert (frame.attrs["width"], frame.attrs["height"]) == ("640", "480")


def test_every_local_file_the_page_loads_exists_in_static_dir():
    page = Collector(view())
    styles = [link.attrs["href"] for link in page.find("link") if link.attrs["rel"] == "stylesheet"]
    urls = [s.attrs["src"] for s in page.find("script")] + styles
    assert urls and all(url.startswith(f"{STATIC_URL}/") for url in urls)
    for url in urls:
        path = STATIC_DIR / url.removeprefix(f"{STATIC_URL}/")
        assert path.is_file(), f"{url} is not in {STATIC_DIR} (vendor/ comes from `make setup`)"


def test_the_only_remote_urls_are_ours_and_the_models():
    html = view()
    assert set(re.findall(r"https?://[^\s\"'<>?]+", html)) == {GLB, USDZ, POSTER, EVENTS, QR}


def test_decoder_locations_point_at_vendored_files():
    config = (STATIC_DIR / "model-viewer-config.js").read_text()
    locations = dict(re.findall(r'(\w+Location): new URL\("([^"]+)", vendor\)', config))
    assert set(locations) == {"dracoDecoderLocation", "ktx2TranscoderLocation", "meshoptDecoderLocation"}
    vendor = STATIC_DIR / "vendor"
    # The files each loader asks for inside its folder (three's DRACOLoader and KTX2Loader).
    assert (vendor / locations["dracoDecoderLocation"] / "draco_wasm_wrapper.js").is_file()
    assert (vendor / locations["dracoDecoderLocation"] / "draco_decoder.wasm").is_file()
    assert (vendor / locations["ktx2TranscoderLocation"] / "basis_transcoder.js").is_file()
    assert (vendor / locations["ktx2TranscoderLocation"] / "basis_transcoder.wasm").is_file()
    assert (vendor / locations["meshoptDecoderLocation"]).is_file()


def test_bundle_is_the_self_contained_build_with_its_licences():
    bundle = (STATIC_DIR / "vendor/model-viewer/model-viewer.min.js").read_text()
    # The self-contained build has no bare imports (the -module build imports "three").
    assert not re.search(r"""\bimport\s*(?:[\w{}*\s,$]+from\s*)?["'](?![./])""", bundle)
    assert 'customElements.define("model-viewer"' in bundle
    licences = STATIC_DIR / "vendor/licenses"
    for package in ("@google/model-viewer", "three", "lit"):
        assert any((licences / package).glob("LICEN*")), package


def test_not_found_page_escapes_the_sku_and_has_no_viewer():
    html = render_not_found_page(HOSTILE)
    page = Collector(html)
    assert "<script>alert" not in html
    assert page.find("model-viewer") == [] and page.find("script") == []
    assert HOSTILE in "".join(e.text for e in page.find("span"))
