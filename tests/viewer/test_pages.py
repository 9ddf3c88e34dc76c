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
    render_not_found_page,
    render_view_page,
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


def view(**overrides: str) -> str:
    args = {"name": "Oak sofa", "sku": "SOFA-1", "glb_url": GLB, "usdz_url": USDZ, "placement": "floor"}
    return render_view_page(**{**args, **overrides})


def test_hostile_product_name_and_sku_stay_text():
    html = view(name=HOSTILE, sku=HOSTILE)
    page = Collector(html)
    assert "<script>alert" not in html and "<img" not in html
    assert [s.attrs.get("src") for s in page.find("script")] == [
        f"{STATIC_URL}/model-viewer-config.js",
        MODEL_VIEWER_BUNDLE,
    ]
    assert page.find("img") == []
    assert page.find("h1")[0].text.strip() == HOSTILE
    assert page.find("title")[0].text.startswith(HOSTILE)
    assert page.find("model-viewer")[0].attrs["alt"] == f"3D model of {HOSTILE}"


def test_urls_cannot_break_out_of_their_attributes():
    hostile_url = 'https://x.test/a.glb?" onload="alert(1)'
    viewer = Collector(view(glb_url=hostile_url)).find("model-viewer")[0]
    assert viewer.attrs["src"] == hostile_url
    assert "onload" not in viewer.attrs


@pytest.mark.parametrize("placement", ["floor", "wall"])
def test_model_viewer_is_set_up_for_ar_at_real_size(placement):
    page = Collector(view(placement=placement))
    (viewer,) = page.find("model-viewer")
    expected = {
        "src": GLB,
        "ios-src": USDZ,
        "ar-modes": "webxr scene-viewer quick-look",
        "ar-scale": "fixed",
        "ar-placement": placement,
        "touch-action": "pan-y",
        "shadow-intensity": "1",
        "alt": "3D model of Oak sofa",
    }
    assert {key: viewer.attrs.get(key) for key in expected} == expected
    assert "ar" in viewer.attrs and "camera-controls" in viewer.attrs
    buttons = [b for b in page.find("button") if b.attrs.get("slot") == "ar-button"]
    assert [b.text.strip() for b in buttons] == ["View in your room"]


def test_unknown_placement_is_refused():
    with pytest.raises(ValueError, match="placement"):
        view(placement="ceiling\" onload=\"x")


def test_scripts_are_local_files_that_run_config_first_and_never_inline():
    page = Collector(view())
    scripts = page.find("script")
    assert [s.attrs.get("src") for s in scripts] == [
        f"{STATIC_URL}/model-viewer-config.js",
        MODEL_VIEWER_BUNDLE,
    ]
    assert MODEL_VIEWER_BUNDLE == "/static/vendor/model-viewer/model-viewer.min.js"
    # The config is a classic blocking script, the bundle a (deferred) module: config runs first.
    assert "type" not in scripts[0].attrs and "async" not in scripts[0].attrs
    assert scripts[1].attrs.get("type") == "module"
    assert all(s.text.strip() == "" for s in scripts)
    assert not any(name.startswith("on") for e in page.elements for name in e.attrs)
    assert not any("style" in e.attrs for e in page.elements)


def test_every_local_file_the_page_loads_exists_in_static_dir():
    page = Collector(view())
    urls = [s.attrs["src"] for s in page.find("script")] + [l.attrs["href"] for l in page.find("link")]
    assert urls and all(url.startswith(f"{STATIC_URL}/") for url in urls)
    for url in urls:
        path = STATIC_DIR / url.removeprefix(f"{STATIC_URL}/")
        assert path.is_file(), f"{url} is not in {STATIC_DIR} (vendor/ comes from `make setup`)"


def test_the_only_remote_urls_are_the_models():
    html = view()
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {GLB, USDZ}


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
