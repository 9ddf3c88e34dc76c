"""The `web` flavour in a real browser: model-viewer decodes the meshopt-compressed, quantised GLB
with the decoder this service hosts (no CDN), at the same real-world size as the AR flavour."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .browser import INIT_SCRIPT, PAGE_TIMEOUT_MS
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
