"""GLB optimisation against the peer tools, in one run on one machine. Run by hand:

    make setup && (cd bench && npm ci) && .venv/bin/python bench/optimize.py [--repeat 3] [--only NAME] [--out FILE]
        [--optimize-vertices]

For every model of ../shared/corpus (OBJ/STL/PLY/zip first turned into a plain GLB with trimesh, so
every tool gets the same input) and two targets — 10% of the triangles, and 50,000 for models over
100k — it runs `vitrine3d convert --max-triangles T`, `gltfpack -si R` (plain, `-cc`, `-sa`) and
`gltf-transform simplify --ratio R --error 1`, and records triangles, whole-process seconds (median
of --repeat), bytes, geometric error (../shared/bench/quality.py: Hausdorff and mean / bbox
diagonal), whether UVs and textures survived, and Khronos validator errors. Prints a table, the
median ratios ours/gltfpack, and writes bench/results/optimize.json. Ours runs on its defaults: kept
vertices moved to fit the original (`optimize_vertices`) on models up to 300k triangles, not on the
stress models. With --optimize-vertices ours moves them on every model, gltfpack -sv (the same idea
in gltfpack) joins the peers, and the results go to bench/results/optimize_vertices.json.

Seconds come from /usr/bin/time around each whole process (the tools take turns, one run each per
round of --repeat), with CPU seconds (user + system of all
its processes: ours measures the error in a forked process, on a second core) and peak resident
memory (MB) beside them. Where gltfpack stops more than 2% away from our count (its error limit),
ours runs again at gltfpack's count ("vitrine3d at gltfpack's count"), and the error ratios use
that run, so errors are compared at equal triangle counts.

Our output is moved back by the placement `normalize` applied (its matrix is in the report), so the
error compares like with like.

Web bytes are also summarised over the sources that have normals: where a source has none, our
`normals` step adds crease normals (smooth shading, split at hard edges) to both flavours, while
gltfpack writes none (viewers then shade every triangle flat) — different pictures, not only
different encodings.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import trimesh

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BENCH_NODE = ROOT / "bench" / "node_modules"
PEERS = {
    "gltfpack": lambda src, out, r: [str(BENCH_NODE / ".bin" / "gltfpack"), "-i", src, "-o", out, "-si", f"{r:.6f}"],
    "gltfpack -cc": lambda src, out, r: [str(BENCH_NODE / ".bin" / "gltfpack"), "-i", src, "-o", out, "-si", f"{r:.6f}", "-cc"],
    "gltfpack -sa": lambda src, out, r: [str(BENCH_NODE / ".bin" / "gltfpack"), "-i", src, "-o", out, "-si", f"{r:.6f}", "-sa"],
    "gltf-transform": lambda src, out, r: [str(BENCH_NODE / ".bin" / "gltf-transform"), "simplify", src, out,
                                           "--ratio", f"{r:.6f}", "--error", "1"],
}


# gltfpack's own vertex optimisation (meshoptimizer's simplifyWithUpdate), beside ours with --optimize-vertices.
OPTIMIZING_PEERS = {
    "gltfpack -sv": lambda src, out, r: [str(BENCH_NODE / ".bin" / "gltfpack"), "-i", src, "-o", out, "-si", f"{r:.6f}", "-sv"],
}


def originals(scratch: Path) -> dict[str, Path]:
    """name → plain GLB every tool reads."""
    found = {}
    for folder in sorted((SHARED / "corpus" / "models").iterdir()):
        files = sorted(p for p in folder.iterdir() if p.is_file())
        glbs = [p for p in files if p.suffix.lower() == ".glb"]
        if glbs:
            found[folder.name] = glbs[0]
            continue
        source = next((p for p in files if p.suffix.lower() in (".obj", ".stl", ".ply", ".zip")), None)
        if source is None:
            continue
        target = scratch / f"{folder.name}.glb"
        if source.suffix.lower() == ".zip":
            unpacked = scratch / folder.name
            zipfile.ZipFile(source).extractall(unpacked)
            source = next(unpacked.rglob("*.gltf"))
        trimesh.load(str(source), force="scene").export(str(target))
        found[folder.name] = target
    for glb in sorted((SHARED / "corpus" / "stress").glob("*.glb")):
        found[glb.stem] = glb
    return found


def timed(commands: dict[str, list[str]], repeat: int) -> dict[str, tuple[dict, subprocess.CompletedProcess]]:
    """Per tool: median wall seconds, CPU seconds (user + system, every process of the run) and peak
    resident memory (largest process, MB) over `repeat` runs, as /usr/bin/time reports them, with
    its last run's process. The tools take turns, one run each per round, so a slow stretch of this
    shared machine (gltfpack's own time on the stress chair went from 1.29 to 1.03 s between two
    runs of this script) falls on all of them rather than on whichever ran then."""
    figures = {tool: ([], [], []) for tool in commands}
    done: dict[str, subprocess.CompletedProcess] = {}
    with tempfile.NamedTemporaryFile("r") as written:
        for _ in range(repeat):
            for tool, command in commands.items():
                done[tool] = subprocess.run(["/usr/bin/time", "-o", written.name, "-f", "%e %U %S %M", *command],
                                            capture_output=True, text=True, cwd=ROOT / "bench")
                wall, user, system, peak_kb = map(float, Path(written.name).read_text().split()[-4:])
                for column, value in zip(figures[tool], (wall, user + system, peak_kb / 1024)):
                    column.append(value)
    return {tool: ({"seconds": statistics.median(walls), "cpu_seconds": statistics.median(cpus), "peak_mb": max(peaks)},
                   done[tool]) for tool, (walls, cpus, peaks) in figures.items()}


def glb_info(path: Path) -> dict:
    done = subprocess.run([sys.executable, str(SHARED / "bench" / "glbinfo.py"), str(path)], capture_output=True, text=True)
    return json.loads(done.stdout.split(" ", 1)[1])


def quality(original: Path, simplified: Path) -> dict:
    done = subprocess.run([sys.executable, str(SHARED / "bench" / "quality.py"), str(original), str(simplified)],
                          capture_output=True, text=True, cwd=ROOT / "bench", env={"NODE_DIR": str(ROOT / "bench"), "PATH": "/usr/bin:/bin"})
    return json.loads(done.stdout) if done.returncode == 0 else {"hausdorff": None, "mean": None}


def validator_errors(path: Path) -> int:
    done = subprocess.run(["node", str(SHARED / "bench" / "gltftool.mjs"), "validate", str(path)],
                          capture_output=True, text=True, cwd=ROOT / "bench", env={"NODE_DIR": str(ROOT / "bench"), "PATH": "/usr/bin:/bin"})
    return json.loads(done.stdout)["errors"]


def ours_command(original: Path, target: int, out: Path, options: tuple[str, ...] = ()) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "vitrine3d"), "convert", str(original), "-o", str(out),
            "--max-triangles", str(target), *options]


def ours(timing: dict, done: subprocess.CompletedProcess, out: Path) -> dict:
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    report = json.loads((out / "report.json").read_text())
    matrix = next(s["details"]["matrix"] for s in report["steps"] if s["name"] == "normalize")
    aligned = out / "aligned.glb"
    scene = trimesh.load(str(out / "model.glb"), force="scene", process=False)
    scene.apply_transform(np.linalg.inv(np.array(matrix)))
    scene.export(str(aligned))
    return {**timing, "glb": out / "model.glb", "measure": aligned, "bytes_web": (out / "model.web.glb").stat().st_size,
            "normals_added": any(a.startswith("normals computed") for a in report["assumptions"])}


def peer(timing: dict, done: subprocess.CompletedProcess, out: Path) -> dict:
    if done.returncode or not out.exists():
        return {"error": (done.stderr or done.stdout).strip()[-120:]}
    return {**timing, "glb": out, "measure": out}


AT_GLTFPACK_COUNT = "vitrine3d at gltfpack's count"


def _unequal_count(rows: dict) -> int | None:
    """gltfpack's triangle count when it is over 2% away from ours (it stops at its error limit)."""
    mine, theirs = rows["vitrine3d"], rows["gltfpack"]
    if "error" in mine or "error" in theirs:
        return None
    return theirs["triangles"] if abs(mine["triangles"] - theirs["triangles"]) > 0.02 * theirs["triangles"] else None


def measure(original: Path, result: dict, source_info: dict) -> dict:
    if "error" in result:
        return result
    info = glb_info(result["glb"])
    error = quality(original, result["measure"])
    row = {"triangles": info["tris"], "seconds": round(result["seconds"], 2),
           "cpu_seconds": round(result["cpu_seconds"], 2), "peak_mb": round(result["peak_mb"]),
           "bytes": result["glb"].stat().st_size,
           "hausdorff": error["hausdorff"], "mean": error["mean"],
           "uv_kept": info["uv"] or not source_info["uv"], "textures_kept": info["images"] >= min(source_info["images"], 1),
           "validator_errors": validator_errors(result["glb"])}
    if "bytes_web" in result:
        row["bytes_web"] = result["bytes_web"]
        row["normals_added"] = result["normals_added"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description="GLB optimisation vs gltfpack and glTF-Transform")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="run only models whose name contains this")
    parser.add_argument("--summarize", type=Path, help="only print the summary of a results JSON written earlier")
    parser.add_argument("--optimize-vertices", action="store_true",
                        help="ours with --optimize-vertices, beside gltfpack -sv (its vertex optimisation) as well")
    parser.add_argument("--out", type=Path, help="where the results JSON goes (default: bench/results/optimize.json, "
                                                  "or optimize_vertices.json with --optimize-vertices)")
    args = parser.parse_args()
    options = ("--optimize-vertices",) if args.optimize_vertices else ()
    peers = {**PEERS, **(OPTIMIZING_PEERS if args.optimize_vertices else {})}
    args.out = args.out or ROOT / "bench" / "results" / ("optimize_vertices.json" if options else "optimize.json")
    if args.summarize:
        print(json.dumps(_summary(json.loads(args.summarize.read_text())["results"]), indent=2))
        return
    assert (BENCH_NODE / ".bin" / "gltfpack").exists(), "peer tools missing: (cd bench && npm ci)"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for name, original in originals(scratch).items():
            if args.only and args.only not in name:
                continue
            info = glb_info(original)
            targets = [max(12, info["tris"] // 10)] + ([50_000] if info["tris"] > 100_000 else [])
            for target in targets:
                ratio = target / info["tris"]
                outs = {"vitrine3d": scratch / f"{name}-{target}-ours"}
                outs.update({tool: scratch / f"{name}-{target}-{tool.replace(' ', '')}.glb" for tool in peers})
                commands = {"vitrine3d": ours_command(original, target, outs["vitrine3d"], options)}
                commands.update({tool: peers[tool](str(original), str(outs[tool]), ratio) for tool in peers})
                runs = {tool: (ours if tool == "vitrine3d" else peer)(*timing_done, outs[tool])
                        for tool, timing_done in timed(commands, args.repeat).items()}
                rows = {tool: measure(original, run, info) for tool, run in runs.items()}
                count = _unequal_count(rows)
                if count:  # gltfpack stopped elsewhere: compare errors at its count too
                    out = scratch / f"{name}-{count}-ours"
                    timing_done = timed({"vitrine3d": ours_command(original, count, out, options)}, args.repeat)
                    rows[AT_GLTFPACK_COUNT] = measure(original, ours(*timing_done["vitrine3d"], out), info)
                for tool, measured in rows.items():
                    row = {"model": name, "input_triangles": info["tris"], "target": target, "tool": tool, **measured}
                    results.append(row)
                    print(_line(row), flush=True)
    summary = _summary(results)
    print(json.dumps(summary, indent=2))
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"results": results, "summary": summary}, indent=2, default=str))
    print(f"wrote {args.out}")


def _line(row: dict) -> str:
    if "error" in row:
        return f"| {row['model']} | {row['target']:,} | {row['tool']} | failed: {row['error']} |"
    h = "-" if row["hausdorff"] is None else f"{row['hausdorff']:.2e}"
    return (f"| {row['model']} | {row['target']:,} | {row['tool']} | {row['triangles']:,} | {row['seconds']} | "
            f"{row['cpu_seconds']} | {row['peak_mb']} | "
            f"{row['bytes']:,}{' / web ' + format(row['bytes_web'], ',') if 'bytes_web' in row else ''} | {h} | "
            f"{'yes' if row['uv_kept'] and row['textures_kept'] else 'NO'} | {row['validator_errors']} |")


def _summary(results: list[dict]) -> dict:
    by_key = {(r["model"], r["target"], r["tool"]): r for r in results if "error" not in r}
    ratios = {"hausdorff": [], "mean": [], "seconds_stress": [], "cpu_seconds_stress": [], "web_bytes_vs_cc": [],
              "web_bytes_vs_cc_source_normals": [], "hausdorff_vs_sv": [], "mean_vs_sv": []}
    reached = {tool: 0 for tool in ["vitrine3d", *PEERS, *{t for _, _, t in by_key} & set(OPTIMIZING_PEERS)]}
    runs = {tool: 0 for tool in reached}
    stress = {}
    for (model, target, tool), r in by_key.items():
        if tool in runs:
            runs[tool] += 1
            reached[tool] += r["triangles"] <= target
    for (model, target, tool), r in by_key.items():
        if tool != "vitrine3d" or (model, target, "gltfpack") not in by_key:
            continue
        g = by_key[(model, target, "gltfpack")]
        equal = by_key.get((model, target, AT_GLTFPACK_COUNT), r)  # errors compared at equal counts
        if equal["hausdorff"] and g["hausdorff"]:
            ratios["hausdorff"].append(equal["hausdorff"] / g["hausdorff"])
            ratios["mean"].append(equal["mean"] / g["mean"])
        sv = by_key.get((model, target, "gltfpack -sv"))
        if sv and sv["hausdorff"] and equal["hausdorff"] and abs(sv["triangles"] - g["triangles"]) <= 0.02 * g["triangles"]:
            ratios["hausdorff_vs_sv"].append(equal["hausdorff"] / sv["hausdorff"])
            ratios["mean_vs_sv"].append(equal["mean"] / sv["mean"])
        if model.startswith("stress") and target == 50_000:
            ratios["seconds_stress"].append(r["seconds"] / g["seconds"])
            ratios["cpu_seconds_stress"].append(r["cpu_seconds"] / g["cpu_seconds"])
            stress[model] = {"seconds": r["seconds"], "gltfpack_seconds": g["seconds"],
                             "ratio": round(r["seconds"] / g["seconds"], 2), "peak_mb": r["peak_mb"],
                             "gltfpack_peak_mb": g["peak_mb"]}
        cc = by_key.get((model, target, "gltfpack -cc"))
        if cc and "bytes_web" in equal:  # -cc stops where plain gltfpack does: same count
            ratios["web_bytes_vs_cc"].append(equal["bytes_web"] / cc["bytes"])
            if not equal.get("normals_added", True):  # like for like: gltfpack adds no normals
                ratios["web_bytes_vs_cc_source_normals"].append(equal["bytes_web"] / cc["bytes"])
    return {"median_ratio_ours_over_gltfpack": {k: (statistics.median(v) if v else None) for k, v in ratios.items()},
            "pairs": {k: len(v) for k, v in ratios.items()},
            "stress_to_50k": stress,
            "reached_budget": {tool: f"{reached[tool]}/{runs[tool]}" for tool in reached}}


if __name__ == "__main__":
    main()
