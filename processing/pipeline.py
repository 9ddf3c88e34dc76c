"""The whole conversion as a list of named steps.

Each step is a module with `run(conv, settings)`: it reads and updates the `Conversion` (the
scene, the files, the outputs) and adds its figures to the report. The order matters:
units are settled first, decimation runs on repaired geometry and missing normals are computed
on its result, textures are encoded before either exporter needs their bytes, and validation sees the
files exactly as they will be published.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import (
    decimate,
    export_glb,
    export_web_glb,
    export_usdz,
    ingest,
    load,
    normalize,
    normals,
    repair,
    textures,
    validate,
)
from .report import Report, scene_stats
from .scene import Scene
from .settings import Settings


@dataclass
class Conversion:
    """The state one run carries from step to step."""

    source: Path
    workdir: Path
    report: Report = field(default_factory=Report)
    upload: ingest.Upload | None = None
    scene: Scene | None = None
    outputs: dict[str, Path] = field(default_factory=dict)


Step = Callable[[Conversion, Settings], None]

STEPS: list[tuple[str, Step]] = [
    ("ingest", ingest.run),
    ("load", load.run),
    ("normalize", normalize.run),
    ("repair", repair.run),
    ("decimate", decimate.run),
    ("normals", normals.run),
    ("textures", textures.run),
    ("export_glb", export_glb.run),
    ("export_web_glb", export_web_glb.run),
    ("export_usdz", export_usdz.run),
    ("validate", validate.run),
]


def convert(
    source: Path,
    workdir: Path,
    settings: Settings,
    on_progress: Callable[[str, float], None] | None = None,
) -> Conversion:
    """Run every step on `source`; outputs (model.glb, model.usdz, report.json) go to `workdir`.

    Raises `ConversionError` when the input cannot be converted; the report written so far is
    still returned through the exception's `conversion` attribute for diagnostics.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    conv = Conversion(source=Path(source), workdir=Path(workdir))
    conv.report.settings = settings.model_dump(mode="json")
    for index, (name, step) in enumerate(STEPS):
        if on_progress:
            on_progress(name, index / len(STEPS))
        with conv.report.step(name, conv.scene) as record:
            step(conv, settings)
            record.triangles_after = conv.scene.triangle_count if conv.scene else None
        if name == "load":
            conv.report.input = scene_stats(conv.scene)
    conv.report.output = {**scene_stats(conv.scene), "files": _file_sizes(conv.outputs)}
    report_path = conv.workdir / "report.json"
    report_path.write_text(json.dumps(conv.report.as_dict(), indent=2))
    conv.outputs["report"] = report_path
    if on_progress:
        on_progress("done", 1.0)
    return conv


def _file_sizes(outputs: dict[str, Path]) -> dict[str, int]:
    return {kind: path.stat().st_size for kind, path in outputs.items()}
