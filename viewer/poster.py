"""Posters: a transparent 1024 px picture of a published model, rendered at publish time.

`poster=` shows it while the model loads, and listings use it as the product's 3D thumbnail.

Design note — what renders it. Both candidates were measured on the same GLBs at 1024²
(bench/posters.py; on this project's shared 2-core machine under a load average of ~15, so
absolute times are inflated): an offscreen OpenGL renderer (pyrender on Mesa EGL) took 1–5 s
per poster, headless Chromium drawing the GLB with the viewer's own <model-viewer> bundle 7–17 s
on a warm page (BROWSER.md measured 0.5–1.8 s on a quiet machine). Chromium was chosen anyway:
the poster is then exactly what the shopper sees a moment later (same camera, neutral
environment, tone mapping and contact shadow; pyrender lights and frames differently, so the
picture visibly jumps when the live model replaces it), it adds no native dependency (pyrender
pins an OpenGL binding that cannot load OSMesa and needs Mesa's EGL), the project already needs
Debian's Chromium for its browser tests, and a poster is a small share of a publish (the
conversion before it takes tens of seconds on the same machine). One long-lived page per
process swaps `src` for each model (a fresh page costs seconds of software-rendering start-up).

The page is served from an address that never resolves (every request is answered by a
Playwright route: the viewer's static files, the one GLB being drawn, nothing else), so rendering
never touches the network. Playwright's sync API belongs to the thread that started it, so the
browser lives on one dedicated thread and callers queue work onto it.
"""

from __future__ import annotations

import atexit
import base64
import io
import logging
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from .pages import CAMERA_ORBIT, MODEL_VIEWER_BUNDLE, MODEL_VIEWER_CONFIG, STATIC_DIR, STATIC_URL

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
SIZE = 1024
WEBP_QUALITY = 90
RENDER_TIMEOUT_S = 90.0
ORIGIN = "http://poster.vitrine.invalid"
# WebGL through SwiftShader (no GPU on a server); no background traffic from Chromium itself.
CHROMIUM_ARGS = [
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
INSTALL_HINT = "posters need Debian's Chromium (apt-get install chromium) and the Python package playwright"

# The same look as the viewer page (viewer/templates/_model_viewer.html): same camera,
# neutral environment, contact shadow; transparent around the model.
PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8">
<style>html, body {{ margin: 0; background: transparent; }}
model-viewer {{ display: block; width: 100vw; height: 100vh; --poster-color: transparent; }}</style>
<script src="{MODEL_VIEWER_CONFIG}"></script>
<script type="module" src="{MODEL_VIEWER_BUNDLE}"></script>
</head><body>
<model-viewer camera-orbit="{CAMERA_ORBIT}" environment-image="neutral" shadow-intensity="1"
  interaction-prompt="none"></model-viewer>
</body></html>"""

# Software rendering is slow enough that model-viewer would lower its render scale (and toBlob
# would return a smaller picture); keep it at full scale.
INIT_SCRIPT = "customElements.whenDefined('model-viewer').then((MV) => { MV.minimumRenderScale = 1; });"

# Swap `src`, wait (with a deadline: a src that fails may fire nothing) and return a PNG.
RENDER = """
async ({ src, timeoutMs }) => {
  const deadline = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`not rendered within ${timeoutMs} ms`)), timeoutMs));
  const rendered = (async () => {
    await customElements.whenDefined('model-viewer');
    const viewer = document.querySelector('model-viewer');
    const loaded = new Promise((resolve, reject) => {
      viewer.addEventListener('load', resolve, { once: true });
      viewer.addEventListener('error', (event) =>
        reject(new Error(`model-viewer error: ${event.detail && event.detail.type}`)), { once: true });
    });
    viewer.src = src;
    await loaded;
    while (!viewer.modelIsVisible) await new Promise(requestAnimationFrame);
    viewer.jumpCameraToGoal();
    await new Promise(requestAnimationFrame);
    await new Promise(requestAnimationFrame);
    const blob = await viewer.toBlob({ mimeType: 'image/png' });
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  })();
  return Promise.race([rendered, deadline]);
}
"""


class PosterError(Exception):
    """The poster could not be rendered (the publish goes on without one)."""


def check_glb(data: bytes) -> None:
    """Refuse, before starting a browser, bytes that are not a whole binary glTF 2.0 file."""
    if len(data) < 12 or data[:4] != b"glTF":
        raise PosterError("not a GLB file")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2 or length != len(data):
        raise PosterError("not a complete glTF 2.0 binary")


class PosterRenderer:
    """A headless Chromium page that turns GLB files into transparent WebP posters."""

    def __init__(self, chromium: Path = CHROMIUM, size: int = SIZE, timeout_s: float = RENDER_TIMEOUT_S):
        self.chromium = Path(chromium)
        self.size = size
        self.timeout_s = timeout_s
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitrine-poster")
        self._playwright = self._browser = self._page = None
        self._glb = b""
        self._renders = 0

    def render(self, glb: Path) -> bytes:
        """The poster of `glb` as WebP bytes (RGBA, size × size). Raises PosterError."""
        data = Path(glb).read_bytes()
        check_glb(data)
        future = self._thread.submit(self._render, data)
        return future.result(timeout=self.timeout_s + 30)

    def close(self) -> None:
        """Close the browser (and its processes); the renderer starts it again if used later."""
        try:
            self._thread.submit(self._close).result(timeout=30)
        except RuntimeError:
            pass  # interpreter exit: the thread is gone, and Playwright's driver ends with the process

    # On the renderer's thread only ---------------------------------------------------------

    def _render(self, data: bytes) -> bytes:
        try:
            page = self._page or self._open()
            self._glb, self._renders = data, self._renders + 1
            src = f"{ORIGIN}/model/{self._renders}.glb"
            png = base64.b64decode(page.evaluate(RENDER, {"src": src, "timeoutMs": int(self.timeout_s * 1000)}))
        except PosterError:
            raise
        except Exception as exc:
            self._close()  # a page that failed once is not trusted for the next poster
            raise PosterError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
        finally:
            self._glb = b""
        return _to_webp(png, self.size)

    def _open(self):
        if not self.chromium.is_file():
            raise PosterError(f"{self.chromium} not found: {INSTALL_HINT}")
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            raise PosterError(f"playwright is not installed: {INSTALL_HINT}") from exc
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=str(self.chromium), headless=True, args=CHROMIUM_ARGS
        )
        context = self._browser.new_context(viewport={"width": self.size, "height": self.size}, device_scale_factor=1)
        context.route("**/*", self._serve)
        page = context.new_page()
        page.add_init_script(INIT_SCRIPT)
        page.goto(f"{ORIGIN}/", wait_until="load")
        self._page = page
        return page

    def _serve(self, route) -> None:
        url = route.request.url
        path = url[len(ORIGIN) :].split("?", 1)[0] if url.startswith(ORIGIN + "/") else None
        if path == "/":
            route.fulfill(status=200, content_type="text/html", body=PAGE)
        elif path is not None and path.startswith("/model/"):
            route.fulfill(status=200, content_type="model/gltf-binary", body=self._glb)
        elif path is not None and path.startswith(STATIC_URL + "/") and (file := _static_file(path)):
            route.fulfill(status=200, path=str(file))
        else:
            route.abort()

    def _close(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
            if self._playwright is not None:
                self._playwright.stop()
        except Exception:
            log.warning("closing the poster browser failed", exc_info=True)
        self._playwright = self._browser = self._page = None


def _static_file(path: str) -> Path | None:
    """The file under STATIC_DIR a /static/… path names, if it is one (never outside)."""
    root = STATIC_DIR.resolve()
    file = (root / path.removeprefix(STATIC_URL + "/")).resolve()
    return file if file.is_file() and file.is_relative_to(root) else None


def _to_webp(png: bytes, size: int) -> bytes:
    image = Image.open(io.BytesIO(png))
    image.load()
    if image.size != (size, size) or image.mode != "RGBA":
        raise PosterError(f"the browser returned a {image.size} {image.mode} picture, not {size}² RGBA")
    out = io.BytesIO()
    image.save(out, "WEBP", quality=WEBP_QUALITY, alpha_quality=100, method=4)
    return out.getvalue()


_default: PosterRenderer | None = None
_default_lock = threading.Lock()


def render_poster(glb: Path) -> bytes:
    """The poster of `glb` from this process's shared renderer (started on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PosterRenderer()
    return _default.render(glb)


@atexit.register
def close_renderer() -> None:
    """Stop this process's shared renderer, if it was started (the app's shutdown calls this)."""
    global _default
    with _default_lock:
        renderer, _default = _default, None
    if renderer is not None:
        renderer.close()
