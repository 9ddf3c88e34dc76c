"""error_reference: start what decimation needs beside repair: the surface its error is measured
against, and, when it will move vertices (`Settings.optimizes_vertices`), its simplifier's
compilation (`meshopt_wasm`, a thread).

The original's samples and search tree (`surface_error.SurfaceReference`) are built in a forked
process (`forked`), started here, right after `normalize` has put the scene in its final world
frame, when the scene is over its triangle budget. `decimate` hands it the simplified triangles
and the report collects the figures at the end. Repair does not change the surface (it welds
equal vertices and drops faces of no area), so the reference may start before it.

History (issue 3): `decimate` first forked it, beside the simplifier only; started here it also
runs beside repair and the texture steps (on the chair stress model its answer was what the
run waited for last).
"""
from __future__ import annotations

from . import meshopt_wasm
from .forked import Forked
from .settings import Settings
from .surface_error import SurfaceReference


def run(conv, settings: Settings) -> None:
    if conv.scene.triangle_count <= settings.max_triangles:
        return
    if settings.error_samples:
        conv.error_reference = Forked(SurfaceReference, list(conv.scene.world_primitives()), settings.error_samples)
    if settings.optimizes_vertices(conv.scene.triangle_count):
        meshopt_wasm.start_loading()  # after the fork: the measuring child needs no thread of ours
