"""`vitrine3d convert` over every model of ../shared/corpus: what goes in, what comes out, and the
outside oracles' verdicts. Run by hand (not a test): `make setup && .venv/bin/python bench/convert_corpus.py`.

Each model is converted by a whole `vitrine3d convert` process (time = wall clock of that process,
imports included, median of --repeat runs). OBJ models are zipped with their MTL and textures
first, the way a catalog team uploads them. Prints a table and writes bench/results/convert_corpus.json.
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

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT))

from processing.usdz_checks import check_usdz  # noqa: E402
from tests.oracles import khronos_validate  # noqa: E402


def inputs(scratch: Path) -> list[tuple[str, Path]]:
    found = []
    for folder in sorted((CORPUS / "models").iterdir()):
        files = sorted(p for p in folder.iterdir() if p.is_file())
        objs = [p for p in files if p.suffix.lower() == ".obj"]
        if objs:
            archive = scratch / f"{folder.name}.zip"
            with zipfile.ZipFile(archive, "w") as zf:
                for p in files:
                    zf.write(p, p.name)
            found.append((folder.name, archive))
        else:
            found += [(folder.name, p) for p in files]
    found += [(p.stem, p) for p in sorted((CORPUS / "stress").glob("*.glb"))]
    return found


def convert(source: Path, outdir: Path, repeat: int) -> dict:
    times, done = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run([str(ROOT / ".venv" / "bin" / "vitrine3d"), "convert", str(source), "-o", str(outdir)],
                              capture_output=True, text=True)
        times.append(time.perf_counter() - started)
    row = {"seconds": round(statistics.median(times), 2), "exit": done.returncode}
    if done.returncode != 0:
        row["error"] = (done.stdout + done.stderr).strip().splitlines()[-1][:120]
        return row
    report = json.loads((outdir / "report.json").read_text())
    glb, usdz = outdir / "model.glb", outdir / "model.usdz"
    verdict = khronos_validate(glb)[0]
    row.update({
        "triangles_in": report["input"]["triangles"], "triangles_out": report["output"]["triangles"],
        "dimensions_m": [report["dimensions_m"][k] for k in ("width", "height", "depth")],
        "glb_bytes": glb.stat().st_size, "usdz_bytes": usdz.stat().st_size,
        "khronos_errors": verdict["numErrors"], "khronos_warnings": verdict["numWarnings"],
        "usd_errors": len(check_usdz(usdz)),
        "unit": next((a for a in report["assumptions"] if a.startswith("unit:")), ""),
    })
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, source in inputs(Path(scratch)):
            results[name] = convert(source, Path(scratch) / "out" / name, args.repeat)
            print(_line(name, results[name]), flush=True)
    out = ROOT / "bench" / "results" / "convert_corpus.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


def _line(name: str, row: dict) -> str:
    if row["exit"]:
        return f"| {name} | failed: {row['error']} | | | | | {row['seconds']} |"
    dims = " × ".join(f"{v:.3f}" for v in row["dimensions_m"])
    return (f"| {name} | {row['triangles_in']:,} → {row['triangles_out']:,} | {dims} | {row['unit'][6:]} | "
            f"{row['glb_bytes']:,} | {row['usdz_bytes']:,} | {row['seconds']} | "
            f"{row['khronos_errors']} err / {row['khronos_warnings']} warn | {row['usd_errors']} err |")


if __name__ == "__main__":
    main()
