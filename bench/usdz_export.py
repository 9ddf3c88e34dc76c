"""USDZ export: ours (usd-core, `processing.usdz_writer`) against three.js `USDZExporter` (what
<model-viewer> builds in the browser when a product has no ios-src), on every corpus model.
Run by hand: `make setup && .venv/bin/python bench/usdz_export.py [--repeat 3]`.

Each model goes through our pipeline up to the textures step with the triangle budget lifted
(so the stress models keep all their triangles: the point is the exporter, not decimation). That
scene is written as a GLB, which three.js loads with GLTFLoader under Node (bench/usdz_three.mjs,
canvas shim @napi-rs/canvas) and exports; we export the same scene with `write_usdz`. Time is
the export alone (median of --repeat), both sides in memory → bytes. Both outputs also go through
`check_usdz` (the ARKit rules), and the error count is in the table.

A second table measures the one design choice usdz_writer's note argues over: world-space baked
placements (what we ship) against USD native instancing (one prototype, instanceable references),
in bytes and in how far USD's own bounding box of the instanced file strays from the true one.

Prints both tables and writes bench/results/usdz_export.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT))

from pxr import Gf, Usd, UsdGeom  # noqa: E402

from processing import usdz_writer  # noqa: E402
from processing.export_glb import write_glb  # noqa: E402
from processing.pipeline import STEPS, Conversion  # noqa: E402
from processing.report import Report  # noqa: E402
from processing.scene import Instance, Material, Mesh, Primitive, Scene  # noqa: E402
from processing.settings import Settings  # noqa: E402
from processing.usdz_checks import check_usdz, usdz_stats  # noqa: E402

SETTINGS = Settings(max_triangles=5_000_000)


def inputs(scratch: Path) -> list[tuple[str, Path]]:
    """(name, upload file) for every corpus model; OBJ folders are zipped as a team uploads them."""
    found = []
    for folder in sorted((CORPUS / "models").iterdir()):
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if any(p.suffix.lower() == ".obj" for p in files):
            archive = scratch / f"{folder.name}.zip"
            with zipfile.ZipFile(archive, "w") as zf:
                for p in files:
                    zf.write(p, p.name)
            found.append((folder.name, archive))
        else:
            found += [(folder.name, p) for p in files]
    return found + [(p.stem, p) for p in sorted((CORPUS / "stress").glob("*.glb"))]


def prepared_scene(source: Path, workdir: Path) -> Scene:
    """The scene as the exporters receive it: loaded, normalised, repaired, textures encoded."""
    conv = Conversion(source=source, workdir=workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for name, step in STEPS:
        step(conv, SETTINGS)
        if name == "textures":
            return conv.scene
    raise AssertionError("no textures step")


def ours(scene: Scene, target: Path, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        usdz_writer.write_usdz(scene, target, Report())
        times.append(time.perf_counter() - started)
    return {"seconds": statistics.median(times), "bytes": target.stat().st_size, "arkit_errors": len(check_usdz(target))}


def three(glbs: list[Path], outdir: Path, repeat: int) -> dict[str, dict]:
    done = subprocess.run(["node", str(ROOT / "bench" / "usdz_three.mjs"), str(outdir), str(repeat), *map(str, glbs)],
                          cwd=ROOT, capture_output=True, text=True, timeout=3600)
    rows = {}
    for line in done.stdout.splitlines():
        if line.startswith('{"file"'):
            row = json.loads(line)
            if "output" in row:
                row["arkit_errors"] = len(check_usdz(Path(row.pop("output"))))
            rows[row.pop("file")] = row
    missing = [str(g) for g in glbs if str(g) not in rows]
    if missing:
        raise SystemExit(f"three.js run gave no result for {missing}:\n{done.stderr[-2000:]}")
    return rows


# --- baked placements vs USD instancing --------------------------------------------------------


def write_instanced(scene: Scene, path: Path) -> None:
    """The alternative to usdz_writer's baked placements: each mesh once, under a `class` prim
    (never drawn), and each placement an instanceable Xform referencing it with its matrix."""
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        scratch = Path(scratch)
        stage = Usd.Stage.CreateNew(str(scratch / usdz_writer.ROOT_LAYER))
        usdz_writer._define_root(stage)
        used = usdz_writer._used_materials(scene)
        files = usdz_writer._write_textures(scene, used, scratch)
        materials = usdz_writer._define_materials(stage, scene, used, files, Report())
        prototypes = {}
        for index, mesh in enumerate(scene.meshes):
            parts = [p for p in mesh.primitives if p.triangle_count]
            if not parts:
                continue
            proto = stage.CreateClassPrim(f"/Prototypes/m{index}")
            for n, batch in enumerate(usdz_writer._batches(parts, scene.materials)):
                usd_mesh = UsdGeom.Mesh.Define(stage, proto.GetPath().AppendChild(f"part{n}"))
                usdz_writer._write_geometry(usd_mesh, batch, np.eye(4), scene.materials[batch[0].material].double_sided)
                usdz_writer._bind(usd_mesh, batch, materials)
            prototypes[index] = proto.GetPath()
        for n, instance in enumerate(scene.instances):
            if instance.mesh not in prototypes:
                continue
            xform = UsdGeom.Xform.Define(stage, f"{usdz_writer.ROOT}/i{n}")
            xform.AddTransformOp().Set(_gf_matrix(instance.matrix))
            xform.GetPrim().GetReferences().AddInternalReference(prototypes[instance.mesh])
            xform.GetPrim().SetInstanceable(True)
        stage.GetRootLayer().Save()
        usdz_writer._package(path, scratch, [usdz_writer.ROOT_LAYER, *dict.fromkeys(files.values())])


def _gf_matrix(matrix: np.ndarray) -> Gf.Matrix4d:
    return Gf.Matrix4d(*matrix.T.reshape(-1).tolist())  # USD multiplies row vectors


def chair_with_legs() -> Scene:
    """A synthetic product where instancing matters most: one detailed turned leg (~16k
    triangles) placed four times, each rotated to face outwards."""
    import trimesh

    leg = trimesh.creation.cylinder(radius=0.02, height=0.45, sections=64).subdivide().subdivide().subdivide()
    leg.apply_translation((0, 0, 0.225))
    leg.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, (1, 0, 0)))  # z-up → y-up
    primitive = Primitive(np.asarray(leg.vertices, dtype=np.float32), np.asarray(leg.faces, dtype=np.uint32), 0,
                          np.asarray(leg.vertex_normals, dtype=np.float32))
    instances = []
    for k, (x, z) in enumerate(((-0.2, -0.2), (0.2, -0.2), (0.2, 0.2), (-0.2, 0.2))):
        angle = np.radians(45 + 90 * k)
        matrix = np.eye(4)
        matrix[:3, :3] = [[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]]
        matrix[:3, 3] = (x, 0.0, z)
        instances.append(Instance(f"leg{k}", 0, matrix))
    return Scene(meshes=[Mesh("leg", [primitive])], instances=instances,
                 materials=[Material("oak", base_color_factor=(0.6, 0.45, 0.3, 1.0), metallic_factor=0.0)])


def instancing_row(scene: Scene, scratch: Path) -> dict:
    baked, instanced = scratch / "baked.usdz", scratch / "instanced.usdz"
    usdz_writer.write_usdz(scene, baked, Report())
    write_instanced(scene, instanced)
    low, high = scene.bounds()
    true_size = high - low
    stray = np.abs(np.asarray(usdz_stats(instanced)["size"]) - true_size).max() / true_size.max()
    return {"placements": len(scene.instances), "meshes": len(scene.meshes), "triangles": scene.triangle_count,
            "baked_bytes": baked.stat().st_size, "instanced_bytes": instanced.stat().st_size,
            "instanced_arkit_errors": len(check_usdz(instanced)), "instanced_bbox_error": float(stray)}


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict = {"export": {}, "instancing": {}}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        glbs = {}
        for name, source in inputs(scratch):
            work = scratch / name
            try:
                scene = prepared_scene(source, work)
            except Exception as exc:  # a model the pipeline refuses is a row, not the end of the run
                results["export"][name] = {"error": f"{type(exc).__name__}: {exc}"[:160]}
                print(f"{name}: {results['export'][name]['error']}", flush=True)
                continue
            glbs[name] = work / f"{name}.glb"
            write_glb(scene, glbs[name])
            results["export"][name] = {"triangles": scene.triangle_count, "ours": ours(scene, work / "ours.usdz", args.repeat)}
            if any(n > 1 for n in scene.instance_counts()):
                results["instancing"][name] = instancing_row(scene, work)
            print(f"{name}: ours {results['export'][name]['ours']}", flush=True)
        for name, row in three(list(glbs.values()), scratch / "three", args.repeat).items():
            results["export"][Path(name).stem]["three"] = row
        results["instancing"]["synthetic chair (4 legs)"] = instancing_row(chair_with_legs(), scratch)
    print_tables(results)
    out = ROOT / "bench" / "results" / "usdz_export.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


def print_tables(results: dict) -> None:
    print("\n| model | triangles | ours s | three.js s | ours bytes | three.js bytes | ARKit errors ours / three.js |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, row in results["export"].items():
        if "error" in row:
            print(f"| {name} | not converted: {row['error']} | | | | | |")
            continue
        ours_row, three_row = row["ours"], row.get("three", {})
        if "error" in three_row:
            three_s, three_b, three_e = "failed", three_row["error"][:40], "-"
        else:
            three_s, three_b, three_e = f"{three_row['seconds']:.3f}", f"{three_row['bytes']:,}", three_row["arkit_errors"]
        print(f"| {name} | {row['triangles']:,} | {ours_row['seconds']:.3f} | {three_s} | {ours_row['bytes']:,} | "
              f"{three_b} | {ours_row['arkit_errors']} / {three_e} |")
    print("\n| model | placements / meshes | triangles | baked bytes | instanced bytes | instanced bbox error |")
    print("|---|---|---:|---:|---:|---:|")
    for name, row in results["instancing"].items():
        print(f"| {name} | {row['placements']} / {row['meshes']} | {row['triangles']:,} | {row['baked_bytes']:,} | "
              f"{row['instanced_bytes']:,} | {row['instanced_bbox_error']:.2%} |")


if __name__ == "__main__":
    main()
