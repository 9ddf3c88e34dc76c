"""The outside judges every output must satisfy, shared by the test suites.

- GLB: the Khronos glTF-Validator (npm `gltf-validator`, run by scripts/gltf_validate.mjs);
- USDZ: usd-core's validators plus the package and ARKit rules (processing.usdz_checks).
A missing tool is a failure, never a skip.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VALIDATE_SCRIPT = ROOT / "scripts" / "gltf_validate.mjs"


def khronos_validate(*paths: Path) -> list[dict]:
    """One verdict per file: numErrors, numWarnings and the issue codes."""
    node = shutil.which("node")
    assert node, "Node.js is required for the Khronos glTF-Validator (run `make setup`)"
    assert (ROOT / "node_modules" / "gltf-validator").is_dir(), "npm packages missing: run `make setup`"
    done = subprocess.run([node, str(VALIDATE_SCRIPT), *map(str, paths)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    verdicts = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(verdicts) == len(paths), done.stderr
    return verdicts


def assert_valid_glb(*paths: Path) -> None:
    for verdict in khronos_validate(*paths):
        assert verdict["numErrors"] == 0, verdict


def assert_valid_usdz(path: Path) -> None:
    from processing.usdz_checks import check_usdz
    assert check_usdz(path) == []
