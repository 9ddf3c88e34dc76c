"""ktx2: textures as KTX2 (Basis Universal), for the web flavour when `web_textures` is "ktx2".

Why: a WebP or JPEG texture is decoded to RGBA in video memory (2048 x 2048: 16 MB, 21 MB with
mipmaps) however small its download; a KTX2 texture is transcoded to the GPU's own block format
and stays compressed there (4-8x less), which is what lets a phone show a heavily textured sofa.
Its download is about WebP's size for colour, several times more for data textures.

How: Binomial's Basis Universal encoder compiled to WebAssembly, from the npm package
ktx2-encoder (Node is already needed for the viewer's files), in one Node process per core, each
encoding its share of the images one after another (`processing/ktx2_encode.mjs`; the WASM build
is single-threaded). Colour textures (base colour, emissive; sRGB) are ETC1S; data textures
(normal, metallic-roughness, occlusion; linear) are UASTC with Zstandard, as glTF-Transform's ktx2
does by default: ETC1S's shared codebooks blur normals. A texture used both ways is treated as
data. Every texture carries its mipmaps (a GPU cannot make them for a compressed texture). The
encoding starts before decimation (`web_textures`) and runs while the geometry is made.

A page showing these files needs 'unsafe-eval' in its CSP if it sends one: three.js's Basis
transcoder (model-viewer's, which this service hosts) builds its bindings with `new Function` in a
worker. Our own /view and embed pages show a KTX2 product's AR file instead (their other
products' web files inline, off Android); a storefront's page may show it.

Node runs with --disable-wasm-trap-handler: otherwise V8 reserves ~10 GB of address space per
WebAssembly memory and cannot start under the conversion process's address-space limit (4 GiB).

Measured (issue 3; a 2048 x 1024 photo, one core): ETC1S effort 1: 5.5 s, 128 KB (WebP at our
settings 111 KB, JPEG 90 346 KB); effort 2: 13.3 s, 130 KB. UASTC level 1: 4.7 s, 777 KB;
level 2: 18 s, 835 KB. So effort 1 and level 1.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from . import errors
from .errors import ConversionError
from .scene import Scene

SCRIPT = Path(__file__).with_name("ktx2_encode.mjs")
COLOUR_SLOTS = {"baseColorTexture", "emissiveTexture"}
SECONDS_PER_MEGAPIXEL = 30  # 3-6 s measured on one core; a loaded machine gets several times that
INSTALL_HINT = "KTX2 textures need Node.js 20+ and the project's npm packages (`make setup`)"


def texture_kinds(scene: Scene) -> list[str]:
    """"colour", "normal" or "data" for each of the scene's textures, by the slots that use it."""
    kinds = ["colour"] * len(scene.textures)
    for material in scene.materials:
        for slot, texture in material.texture_slots().items():
            if slot == "normalTexture":
                kinds[texture] = "normal"
            elif slot not in COLOUR_SLOTS and kinds[texture] == "colour":
                kinds[texture] = "data"
    return kinds


class Ktx2Encoding:
    """`images` being encoded to KTX2 by Node processes (one per core, the largest images shared out
    first), started at once; `result()` waits for the files, in the images' order. A context manager:
    leaving it stops any process still running and removes the scratch folder."""

    def __init__(self, images: list[Image.Image], kinds: list[str], scratch: Path):
        node = shutil.which("node")
        if node is None:
            raise ConversionError(errors.TEXTURE_ENCODER_FAILED, f"Node.js was not found: {INSTALL_HINT}.")
        self._folder = Path(tempfile.mkdtemp(prefix="ktx2-", dir=scratch)).resolve()  # Node runs elsewhere
        jobs = []
        for index, (image, kind) in enumerate(zip(images, kinds)):
            raw = self._folder / f"{index}.rgba"
            raw.write_bytes(image.convert("RGBA").tobytes())
            jobs.append({"input": str(raw), "width": image.width, "height": image.height,
                         "output": str(self._folder / f"{index}.ktx2"), "kind": kind})
        self._outputs = [Path(job["output"]) for job in jobs]
        self._encoded: list[bytes] | None = None
        self._timeout = 60 + SECONDS_PER_MEGAPIXEL * sum(i.width * i.height for i in images) / 1e6
        self._processes = []
        for number, share in enumerate(_shares(jobs, os.cpu_count() or 1)):
            manifest = self._folder / f"manifest{number}.json"
            manifest.write_text(json.dumps(share))
            self._processes.append(subprocess.Popen(
                [node, "--disable-wasm-trap-handler", str(SCRIPT), str(manifest)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=SCRIPT.parent))

    def __enter__(self) -> Ktx2Encoding:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop any process still running and remove the scratch folder."""
        for process in self._processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
        shutil.rmtree(self._folder, ignore_errors=True)

    def result(self) -> list[bytes]:
        if self._encoded is None:
            deadline = time.monotonic() + self._timeout
            for process in self._processes:
                self._finish(process, deadline)
            self._encoded = [path.read_bytes() for path in self._outputs]
        return self._encoded

    def _finish(self, process: subprocess.Popen, deadline: float) -> None:
        try:
            _, stderr = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise ConversionError(errors.TEXTURE_ENCODER_FAILED, f"KTX2 encoding took over "
                                  f"{self._timeout:.0f} s; web_textures 'webp' avoids it.") from None
        if process.returncode != 0:
            # Node's own words go to the log (stderr): they name server paths.
            sys.stderr.write(stderr.decode(errors="replace")[-4000:])
            missing = b"ktx2-encoder" in stderr and b"ERR_MODULE_NOT_FOUND" in stderr
            hint = INSTALL_HINT if missing else "web_textures 'webp' avoids it"
            raise ConversionError(errors.TEXTURE_ENCODER_FAILED, f"The KTX2 encoder failed (exit status "
                                  f"{process.returncode}); {hint}.")


def _shares(jobs: list[dict], processes: int) -> list[list[dict]]:
    """`jobs` split into at most `processes` lists of about equal pixels, largest first."""
    shares: list[list[dict]] = [[] for _ in range(min(processes, len(jobs)))]
    loads = [0] * len(shares)
    for job in sorted(jobs, key=lambda job: job["width"] * job["height"], reverse=True):
        lightest = loads.index(min(loads))
        shares[lightest].append(job)
        loads[lightest] += job["width"] * job["height"]
    return shares
