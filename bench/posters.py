#!/usr/bin/env python3
"""Poster renderers compared: headless Chromium + <model-viewer> (what viewer/poster.py uses)
against an offscreen OpenGL renderer (pyrender on Mesa EGL), at 1024², on the same GLB files.

    .venv/bin/python bench/posters.py [GLB ...]      (default: GLBs of the shared corpus)

Prints one row per model and renderer (first-poster time includes starting the renderer; warm
time is the median of --repeat renders on the started renderer), and writes
bench/results/posters.json. pyrender is not a project dependency: install it in a separate
virtualenv and point --pyrender-python at it (`pip install pyrender PyOpenGL==3.1.10`; Debian's
Mesa EGL is used headless, PYOPENGL_PLATFORM=egl). Without it only Chromium is measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from viewer.poster import PosterRenderer  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "models"
RESULTS = REPO / "bench" / "results"

# Runs inside the pyrender virtualenv: same framing idea as model-viewer's default camera
# (front, fitted to the bounding sphere), one directional light plus ambient.
PYRENDER_SCRIPT = r"""
import io, json, os, sys, time, statistics
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
import numpy as np, trimesh, pyrender
from PIL import Image
size, repeat, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
started = time.monotonic()
renderer = pyrender.OffscreenRenderer(size, size)
start_s = time.monotonic() - started
out = []
for path in paths:
    def render():
        mesh = trimesh.load(path)
        scene = pyrender.Scene.from_trimesh_scene(mesh, bg_color=[0, 0, 0, 0], ambient_light=[0.3] * 3)
        lo, hi = mesh.bounds
        pose = np.eye(4)
        pose[:3, 3] = (lo + hi) / 2 + [0, 0, float(np.linalg.norm(hi - lo)) * 1.3]
        scene.add(pyrender.PerspectiveCamera(yfov=np.radians(45)), pose=pose)
        scene.add(pyrender.DirectionalLight(intensity=3.0), pose=pose)
        color, _ = renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
        return color
    times = []
    for _ in range(repeat):
        t = time.monotonic(); color = render(); times.append(time.monotonic() - t)
    buffer = io.BytesIO(); Image.fromarray(color).save(buffer, "PNG")
    out.append({"path": path, "first_s": times[0], "warm_s": statistics.median(times[1:] or times),
                "coverage": float((color[..., 3] > 0).mean())})
print(json.dumps({"start_s": start_s, "models": out}))
"""


def coverage(webp: bytes) -> float:
    import io

    alpha = np.asarray(Image.open(io.BytesIO(webp)))[..., 3]
    return float((alpha > 0).mean())


def bench_chromium(paths: list[Path], repeat: int) -> dict:
    renderer = PosterRenderer()
    rows = []
    try:
        for path in paths:  # the first model's first render includes starting the browser
            times = []
            for _ in range(repeat):
                t = time.monotonic()
                poster = renderer.render(path)
                times.append(time.monotonic() - t)
            rows.append(
                {
                    "path": str(path),
                    "first_s": times[0],
                    "warm_s": statistics.median(times[1:] or times),
                    "coverage": coverage(poster),
                    "bytes": len(poster),
                }
            )
    finally:
        renderer.close()
    return {"models": rows}


def bench_pyrender(python: str, paths: list[Path], repeat: int) -> dict | None:
    done = subprocess.run(
        [python, "-c", PYRENDER_SCRIPT, "1024", str(repeat), *map(str, paths)], capture_output=True, text=True
    )
    if done.returncode != 0:
        print(f"pyrender failed ({python}):\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("glbs", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pyrender-python", help="python of a virtualenv with pyrender installed")
    args = parser.parse_args()
    paths = args.glbs or sorted(CORPUS.glob("*/*.glb"))
    if not paths:
        parser.error(f"no GLB given and none under {CORPUS}")
    results = {"chromium": bench_chromium(paths, args.repeat)}
    if args.pyrender_python:
        results["pyrender"] = bench_pyrender(args.pyrender_python, paths, args.repeat)
    print(f"{'model':<28} {'renderer':<9} {'first s':>8} {'warm s':>7} {'covered':>8}")
    for name, result in results.items():
        for row in (result or {}).get("models", []):
            model = Path(row["path"]).name
            print(f"{model:<28} {name:<9} {row['first_s']:>8.2f} {row['warm_s']:>7.2f} {row['coverage']:>8.1%}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "posters.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
