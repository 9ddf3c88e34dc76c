"""web_textures: start encoding the web flavour's textures as soon as `textures` has settled them.

The encodes need only the final images, so they start before decimation and run while the
geometry is simplified, normals are computed and the AR files are written; `export_web_glb`
takes them when it writes the images. WebP (`web_textures` "webp", the default) encodes on threads
(Pillow encodes without holding the GIL); KTX2 ("ktx2") in Node processes (`ktx2`). The pipeline
closes the encoding when the run ends, so a failed conversion leaves no encoder running.

History (issue 3): `export_web_glb` first started the encodes itself, beside its own geometry
(~0.1 s), after everything else. A 2048 x 2048 texture takes ~0.35 s as WebP at WEBP_EFFORT and
3-6 s as KTX2, and furniture typically has several.
"""
from __future__ import annotations

import io
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PIL import Image, WebPImagePlugin  # noqa: F401 - registered, so saving a WebP does not make
# Pillow import every one of its ~40 format plugins first (~0.2 s in each conversion process)

from .ktx2 import Ktx2Encoding, texture_kinds
from .scene import Scene
from .settings import Settings

WEBP_QUALITY = 85
WEBP_EFFORT = 2  # libwebp method 0-6: 4 took 2 s on a 2048 px texture for ~3% fewer bytes


def run(conv, settings: Settings) -> None:
    conv.web_textures = WebTextures(conv.scene, settings.web_textures, conv.workdir)


class WebTextures:
    """The scene's textures being encoded as `kind` ("webp" or "ktx2"), started at once (KTX2's
    scratch files go in `scratch`); `image(index)` waits for one; `close` stops what still runs."""

    def __init__(self, scene: Scene, kind: str = "webp", scratch: Path | None = None):
        self.kind = kind
        images = [texture.image for texture in scene.textures]
        self._ktx2 = self._pool = None
        if not images:
            return
        if kind == "ktx2":
            self._ktx2 = Ktx2Encoding(images, texture_kinds(scene), scratch)
        else:
            self._pool = ThreadPoolExecutor(max_workers=max(1, min(len(images), os.cpu_count() or 1)))
            self._webp: list[Future] = [self._pool.submit(webp_bytes, image) for image in images]

    def image(self, index: int) -> bytes:
        """The encoded file of the scene's texture `index`."""
        if self._ktx2 is not None:
            return self._ktx2.result()[index]
        return self._webp[index].result()

    def close(self) -> None:
        if self._ktx2 is not None:
            self._ktx2.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> WebTextures:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def webp_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=WEBP_EFFORT)
    return buffer.getvalue()
