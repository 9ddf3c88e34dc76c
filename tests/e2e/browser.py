"""What the real-browser tests share: Debian's Chromium through Playwright, the in-page scripts
that wait for <model-viewer> (each with its own deadline, so a model that never loads fails the
test instead of hanging it), phone user agents, and picture checks.

Only events are not enough: without WebGL model-viewer still fires `load` and reports
`modelIsVisible` while drawing nothing, so tests assert a WebGL context and look at pixels.
"""

from __future__ import annotations

import io
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

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

PHONES = {
    "android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    # Chrome on iPhone: Quick Look through <a rel="ar">, which desktop Chromium can then "click".
    "iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
}
PHONE_VIEWPORT = {"width": 390, "height": 844}
DESKTOP_VIEWPORT = {"width": 1280, "height": 800}

# Without this, slow software-rendered frames make model-viewer lower its render scale, and
# toBlob() returns a smaller image cropped to a quarter. CSP violations are recorded too.
INIT_SCRIPT = """
customElements.whenDefined('model-viewer').then((ModelViewer) => { ModelViewer.minimumRenderScale = 1; });
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""

# Record the links model-viewer clicks to start AR instead of following them.
RECORD_AR_LINKS = """
window.arLinks = [];
HTMLAnchorElement.prototype.click = function () { window.arLinks.push({ href: this.href, rel: this.rel }); };
"""

# Wait for the first <model-viewer> (in `root`'s document) to show its model; return what the
# page measured and drew.
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
    return { webgl, dimensions: [size.x, size.y, size.z], png, canActivateAR: viewer.canActivateAR };
  })();
  return Promise.race([shown, deadline]);
}
"""


def launch(playwright):
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: `make test` installs it (scripts/install-chromium.sh)"
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def picture_stats(png: bytes) -> tuple[float, float]:
    """(share of pixels the model covers, standard deviation of their colour, 0–255)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"), dtype=float)
    covered = pixels[..., 3] > 0
    if not covered.any():
        return 0.0, 0.0
    return float(covered.mean()), float(pixels[covered][:, :3].std(axis=0).max())


def covered_mean_colour(png: bytes) -> np.ndarray:
    """Mean RGB (0-255) of the pixels the model covers."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"), dtype=float)
    return pixels[pixels[..., 3] > 0][:, :3].mean(axis=0)


def screenshot_spread(png: bytes) -> float:
    """Largest per-channel standard deviation of an opaque screenshot: ~0 for a blank page."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
    return float(pixels.reshape(-1, 3).std(axis=0).max())


def foreign_requests(requests: list[str], origin_url: str) -> list[str]:
    origin = urlsplit(origin_url)[:2]
    return [url for url in requests if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url)[:2] != origin]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shop_page(snippet: str) -> str:
    """A storefront's page with one of our snippets pasted in."""
    head = "<meta charset='utf-8'><title>Shop</title>"
    return f"<!doctype html><html><head>{head}</head><body><h1>Our cabinets</h1>{snippet}</body></html>"


@contextmanager
def storefront(pages: dict[str, str]) -> Iterator[str]:
    """A stand-in storefront: another origin (its own local port) serving `pages` (path → HTML).

    Yields its base URL. It sends no CSP of its own, like a plain shop page.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
