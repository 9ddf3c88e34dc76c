#!/usr/bin/env python3
"""Copy the browser files we serve ourselves from node_modules into viewer/static/vendor/.

The viewer page loads <model-viewer> and its decoders from this service, never from a CDN, so
the exact versions pinned in package-lock.json are what shoppers get. The folder is generated
(gitignored) and rebuilt from scratch on every run so a removed file cannot linger.

Layout of viewer/static/vendor/ (paths the page and viewer/static/model-viewer-config.js use):
    model-viewer/model-viewer.min.js   self-contained ES module (three, lit, gainmap-js inside)
    draco/                             Draco glTF decoder, for KHR_draco_mesh_compression
    basis/                             Basis Universal transcoder, for KHR_texture_basisu (KTX2)
    meshopt_decoder.js                 loaded as a classic script before EXT/KHR_meshopt GLBs
    licenses/<package>/...             the licence of every package whose code is served
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "viewer" / "static" / "vendor"

FILES: dict[str, str] = {
    "@google/model-viewer/dist/model-viewer.min.js": "model-viewer/model-viewer.min.js",
    "three/examples/jsm/libs/draco/gltf/draco_decoder.js": "draco/draco_decoder.js",
    "three/examples/jsm/libs/draco/gltf/draco_decoder.wasm": "draco/draco_decoder.wasm",
    "three/examples/jsm/libs/draco/gltf/draco_wasm_wrapper.js": "draco/draco_wasm_wrapper.js",
    "three/examples/jsm/libs/draco/README.md": "draco/README.md",
    "three/examples/jsm/libs/basis/basis_transcoder.js": "basis/basis_transcoder.js",
    "three/examples/jsm/libs/basis/basis_transcoder.wasm": "basis/basis_transcoder.wasm",
    "three/examples/jsm/libs/basis/README.md": "basis/README.md",
    # model-viewer runs the loaded script only as a readiness check and then uses the decoder
    # compiled into its bundle; the UMD build is the one that loads as a classic <script>.
    "meshoptimizer/meshopt_decoder.cjs": "meshopt_decoder.js",
}

# Every package with code inside the files above (the bundle inlines three, lit, gainmap-js).
LICENSED_PACKAGES = [
    "@google/model-viewer",
    "three",
    "lit",
    "lit-html",
    "lit-element",
    "@lit/reactive-element",
    "@monogrid/gainmap-js",
    "meshoptimizer",
]


def _licence_files(package: str) -> list[Path]:
    found = sorted((NODE_MODULES / package).glob("LICEN[CS]E*"))
    if not found:
        raise SystemExit(f"no licence file in node_modules/{package}: run `npm ci` again")
    return found


def main() -> int:
    missing = [src for src in FILES if not (NODE_MODULES / src).is_file()]
    if missing:
        print("missing in node_modules (run `npm ci`):", *missing, sep="\n  ", file=sys.stderr)
        return 1
    staging = VENDOR.with_name("vendor.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for src, dest in FILES.items():
        target = staging / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(NODE_MODULES / src, target)
    for package in LICENSED_PACKAGES:
        for licence in _licence_files(package):
            target = staging / "licenses" / package / licence.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(licence, target)
    # Swap in the complete folder so a server never sees a half-copied vendor tree.
    shutil.rmtree(VENDOR, ignore_errors=True)
    staging.rename(VENDOR)
    print(f"copied {len(FILES)} files and {len(LICENSED_PACKAGES)} licences into {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
