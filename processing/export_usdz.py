"""export_usdz: the product's USDZ, written and checked by a process that loaded usd-core early.

Importing usd-core costs 0.5-0.8 s in every fresh conversion process: as long as all the geometry
steps take on a 500k-triangle chair. So the process that imports it is forked early: by the
`vitrine3d` script and the service's conversion process before their own imports
(`usd_core.start_early`), or else by `start` (called by the pipeline right after preflight). It
loads usd-core while this process imports and runs load, repair, decimate and normals. This step
then hands it the finished scene (right after `normals`, before the GLB exporters); it writes the
package (`usdz_writer`), checks the file as it will be published (`usdz_checks`: package, ARKit
and usd-core's validators) and measures its size while this process writes the two GLBs, and
`validate` collects those figures (`collect`). This process never loads usd-core. A child that
fails or dies is replaced by the same work done here (`forked`), which raises whatever it raises.

History (issue 3): the import was first tried on a thread during decimation; it deadlocked (two
threads loading native extensions at once). On stress_chair_480k -> 50k this step took 0.73-1.16 s
with the import in it, 0.14-0.33 s now (writing, checking, and any wait for the import). The step
then waited for the child; handing it the scene before the GLB exporters run took stress_capsule_650k
-> 50k from 2.68 to 2.40 s (median of 6, interleaved; chair unchanged: its second core is busy
measuring the error). usd-core sets up its file formats, schemas and validators on its first write
and check: 0.15 CPU-s for the capsule's first USDZ in a process, 0.06 for the next. The child now
pays that on a one-triangle USDZ while it waits for the scene (`UsdCore._warm_up`): `validate`'s
wait for the capsule's USDZ went from 0.09-0.17 s to 0.02-0.06 s (4 interleaved runs each); a small
model's run is unchanged (Duck 0.87 -> 0.84 s, median of 6), the same work done earlier.
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from . import usd_core
from .report import Report
from .scene import Instance, Material, Mesh, Primitive, Scene, Texture

FILE_NAME = "model.usdz"


class UsdCore:
    """usd-core, loaded: writes a scene's USDZ and checks it."""

    def __init__(self) -> None:
        from . import usdz_checks, usdz_writer

        self._checks, self._writer = usdz_checks, usdz_writer
        self._warm_up()

    def _warm_up(self) -> None:
        """Write and check a one-triangle textured USDZ in the system's temporary folder: usd-core
        sets up its file formats, schemas and validators on first use, which this process can do
        while it waits for the scene instead of after it."""
        with tempfile.TemporaryDirectory(prefix="vitrine-usdz-warm-up-") as folder:
            self.package(_one_textured_triangle(), Path(folder) / FILE_NAME)

    def package(self, scene: Scene, path: Path) -> dict:
        """Write `scene` to `path`; the writer's warnings, the file's problems and its size (m)."""
        report = Report()
        self._writer.write_usdz(scene, path, report)
        return {"warnings": report.warnings, "problems": self._checks.check_usdz(path),
                "size": self._checks.usdz_stats(path)["size"]}


def _one_textured_triangle() -> Scene:
    image = Image.new("RGB", (4, 4), (128, 128, 128))
    encoded = io.BytesIO()
    image.save(encoded, "PNG")
    triangle = Primitive(positions=np.eye(3, dtype=np.float32), faces=np.array([[0, 1, 2]], dtype=np.uint32),
                         material=0, normals=np.full((3, 3), 3 ** -0.5, dtype=np.float32),
                         uvs=np.array([[0, 0], [1, 0], [0, 1]], dtype=np.float32))
    return Scene(meshes=[Mesh("triangle", [triangle])], instances=[Instance("triangle", 0, np.eye(4))],
                 materials=[Material(base_color_texture=0)],
                 textures=[Texture("grey", image, encoded.getvalue(), "image/png")])


def start(conv) -> None:
    """The process that loads usd-core: the one `usd_core.start_early` forked, or one forked now;
    `run` gives it the scene later."""
    conv.usd_core = usd_core.take()


def run(conv, settings) -> None:
    """Pipeline step: hand the finished scene to the child, which writes and checks `model.usdz`
    while this process writes the GLBs; `collect` waits for it."""
    if conv.usd_core is None:
        start(conv)
    conv.usd_core.ask("package", conv.scene, conv.workdir / FILE_NAME)


def collect(conv) -> None:
    """The written USDZ: its path in the outputs, the writer's warnings in the report, and its
    problems and size in `conv.usdz_checked` (for `validate`)."""
    packaged = conv.usd_core.result()
    for warning in packaged["warnings"]:
        conv.report.warn(warning)
    conv.usdz_checked = {"problems": packaged["problems"], "size": packaged["size"]}
    conv.outputs["usdz"] = conv.workdir / FILE_NAME
