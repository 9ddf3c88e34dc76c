"""The whole conversion as a list of named steps.

Each step is a module with `run(conv, settings)`: it reads and updates the `Conversion` (the
scene, the files, the outputs) and adds its figures to the report. The order matters:
units are settled first, textures are settled on the repaired scene (which parts survive is known
then) and the web flavour's texture encodes start there, so they run while decimation runs on
the repaired geometry; missing normals are computed on its result, the USDZ is handed to its
process before the GLBs are written (it is written meanwhile), and validation sees the files exactly
as they will be published.

`ingest` and `preflight` come first and are light: a file they refuse costs its job
milliseconds. The steps after them are imported when they first run, because the 3D libraries
they use (trimesh, meshoptimizer, usd-core) take seconds to import in every fresh conversion
process. usd-core is never imported here: a forked child loads it (`usd_core`, `export_usdz`),
started before anything heavy by the `vitrine3d` script and the service's conversion process, or
else right after preflight, so its import overlaps this process's own instead of following it.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import export_usdz, ingest, preflight
from .forked import Forked
from .report import Report, scene_stats
from .scene import Scene
from .settings import Settings

if TYPE_CHECKING:  # imported by its step: it loads Pillow
    from .web_textures import WebTextures


@dataclass
class Conversion:
    """The state one run carries from step to step."""

    source: Path
    workdir: Path
    report: Report = field(default_factory=Report)
    upload: ingest.Upload | None = None
    scene: Scene | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    usd_core: Forked | None = None  # the process that writes the USDZ (`export_usdz`)
    error_reference: Forked | None = None  # the original's surface, for the decimation error
    usdz_checked: dict | None = None  # its problems and size, for `validate`
    web_textures: WebTextures | None = None  # the web flavour's textures, encoding (`web_textures`)


Step = Callable[[Conversion, Settings], None]


def _deferred(module: str) -> Step:
    """The `run` of processing.<module>, imported when the step first runs."""
    def run(conv: Conversion, settings: Settings) -> None:
        importlib.import_module(f"{__package__}.{module}").run(conv, settings)

    run.__qualname__ = f"{module}.run"
    return run


STEPS: list[tuple[str, Step]] = [
    ("ingest", ingest.run),
    ("preflight", preflight.run),
    *((name, _deferred(name)) for name in (
        "load", "normalize", "error_reference", "repair", "textures", "web_textures", "decimate", "normals",
        "export_usdz", "export_glb", "export_web_glb", "validate",
    )),
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
    try:
        for index, (name, step) in enumerate(STEPS):
            if on_progress:
                on_progress(name, index / len(STEPS))
            with conv.report.step(name, conv.scene) as record:
                step(conv, settings)
                record.triangles_after = conv.scene.triangle_count if conv.scene else None
            if name == "preflight":
                export_usdz.start(conv)  # the usd-core child: the one started early, or a new one
            if name == "load":
                conv.report.input = scene_stats(conv.scene)
        conv.report.settle()
    except BaseException:
        conv.report.abandon()
        raise
    finally:
        if conv.usd_core is not None:
            conv.usd_core.cancel()  # answered: nothing to do; otherwise the child is not needed
        if conv.web_textures is not None:
            conv.web_textures.close()
        if conv.error_reference is not None:
            conv.error_reference.cancel()  # answered or handed to the report: nothing to do
    conv.report.output = {**scene_stats(conv.scene), "files": _file_sizes(conv.outputs)}
    report_path = conv.workdir / "report.json"
    report_path.write_text(json.dumps(conv.report.as_dict(), indent=2))
    conv.outputs["report"] = report_path
    if on_progress:
        on_progress("done", 1.0)
    return conv


def _file_sizes(outputs: dict[str, Path]) -> dict[str, int]:
    return {kind: path.stat().st_size for kind, path in outputs.items()}
