"""decimate: bring the whole product under an absolute triangle budget, keeping its look.

The budget is for the whole scene as drawn: a mesh placed three times costs its triangles three
times, and the result never exceeds it. Parts share it so that they all end at the same geometric
error in world units (metres): a flat panel gives up far more triangles than a carved leg for the
same visible loss, which a share proportional to triangle counts cannot do. The error level is
found by bisection: every part is simplified down to "error <= e" (meshoptimizer's absolute error,
scaled by the part's largest instance scale), and e moves until the drawn total fits the budget.
A single part skips the search and goes straight to its target count.

Simplification is meshoptimizer's attribute-aware edge collapse (normals in the metric). UV seams,
hard edges and material borders are kept: vertices that differ in UV or normal are never merged
(meshoptimizer moves no vertex, it only collapses edges along seams), and each material is its own
primitive. No part is deleted outright (each keeps at least MIN_PART_TRIANGLES or what it had).
With `optimize_vertices` (unset: products up to `settings.OPTIMIZE_VERTICES_UP_TO` triangles),
meshoptimizer 1.3's collapse with update runs instead (`meshopt_wasm`, normals and UVs in the
metric): every kept vertex then moves to where it best fits the surface it now stands for, its
normal and UV solved with it (twins on a seam move together). It is slower, which is why the
largest inputs keep the native collapse: see `meshopt_wasm` for both sides of the trade.
If the file's normals lock the collapse above the budget (creases everywhere, two-sided panels), the
parts go on without them and the `normals` step computes creased ones (the report warns). If locked
UV seams still stop it (a model whose every face is its own UV island), a last pass collapses across
seams and borders and the report warns that textures may smear there.

The error reached is measured like ../shared/bench/quality.py (`surface_error`): symmetric
Hausdorff and mean distance as a fraction of the bounding-box diagonal, in the report.

Then, for every primitive: slivers the collapse left with no area are dropped, triangles reordered
for the vertex cache and vertices for fetch, which also drops the vertices left unused.

History: issue 2 shared the budget in proportion to triangle counts; equal-error allocation
replaced it (issue 3) — on scenes of unequal parts it lowers the worst error at the same count.
Speed (issue 3, stress models 0.5-1.9M triangles -> 50k): repair hands over vertices in first-
use order, which made meshoptimizer's pass on the 1.9M-triangle model 3x faster (6.1 s -> 2.0 s);
the collapse order depends on vertex numbering, so the errors moved within their usual spread
(Hausdorff on that model: 6.8e-4 sorted, 7.2e-4 first-use, 6.9e-4..1.4e-3 over four random
numberings). The error measurement runs in a fork (`forked`, with its history): the reference is
built beside repair and the simplifier (started by `error_reference`) and the distances measured
beside the next steps, on the compacted parts.
Tried and dropped: simplifying to 2x, 4x or 8x the budget first — no faster, errors no better.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

import numpy as np

from . import errors, meshopt, meshopt_wasm
from .errors import ConversionError
from .repair import doubled_area_squared, drop_degenerate, weld
from .rows import masked_rows, row_keys
from .surface_error import world_triangles
from .scene import Primitive, Scene
from .settings import Settings

MIN_PART_TRIANGLES = 4
NORMAL_WEIGHT = 0.05  # measured on Duck and capsule: 0.5 raised the Hausdorff error ~50%, 0 lost shading detail
UV_WEIGHT = 1.0  # with optimize_vertices, so moved vertices' UVs are solved; 0.5-2 measured alike (capsule, Duck, fuze, milktruck)
SEARCH_STEPS = 12
GOOD_ENOUGH = 0.97  # stop searching once the budget is this full
STALLED = 0.98  # a pass over budget that ends within 2% of the over-budget pass before it is stuck


Simplify = Callable[["Part", int, "float | None", int], "tuple[Primitive, float]"]


@dataclass
class Part:
    mesh: int
    index: int
    prim: Primitive
    instances: int
    scale: float  # largest world scale of its placements: local error x scale = world error

    @property
    def floor(self) -> int:
        return min(self.prim.triangle_count, MIN_PART_TRIANGLES)


def run(conv, settings: Settings) -> None:
    scene: Scene = conv.scene
    before = [m.triangle_count for m in scene.meshes]
    total = scene.triangle_count
    budget = settings.max_triangles
    reference = conv.error_reference  # the original's surface, being built in a fork (`error_reference`)
    if total > budget:
        if reference is not None:
            conv.report.note_later("surface_error", reference)  # cancelled if the run fails first
        optimize_vertices = settings.optimizes_vertices(total)
        error, forced, normals_dropped = simplify_to_budget(scene, budget, optimize_vertices)
        tidy(scene)  # first: the error is then measured on the compacted parts, as published
        if reference is not None:
            reference.ask("error_to", world_triangles(scene.world_primitives()))
        moved = ", kept vertices moved to fit the original (optimize_vertices)" if optimize_vertices else ""
        conv.report.assume(f"decimated {total:,} -> {scene.triangle_count:,} triangles (budget {budget:,}){moved}")
        conv.report.note(world_error_m=round(error, 7), meshes=[
            {"name": m.name, "triangles_in": b, "triangles_out": m.triangle_count}
            for m, b in zip(scene.meshes, before)])
        if normals_dropped:
            conv.report.warn("the file's normals split this model along so many hard edges that decimation could "
                             "not reach the budget keeping them: they were dropped before decimating, and the "
                             "normals step computed new ones with creases")
        if forced:
            conv.report.warn("decimation had to collapse across UV seams and borders to reach the budget: "
                             "textures may smear along seams; a higher max_triangles avoids it")
    else:
        if reference is not None:  # repair took the scene under the budget: nothing to measure
            reference.cancel()
        tidy(scene)


def tidy(scene: Scene) -> None:
    """Every primitive without its no-area faces and unused vertices, in GPU-friendly order."""
    for mesh in scene.meshes:
        mesh.primitives = [optimize_order(drop_degenerate(p)) for p in mesh.primitives]


class Decimation(NamedTuple):
    error: float  # the world-space error reached (metres, meshoptimizer's estimate)
    forced: bool  # the last resort (collapsing across seams and borders) was needed
    normals_dropped: bool  # the file's normals locked the collapse: parts go on without them


def simplify_to_budget(scene: Scene, budget: int, optimize_vertices: bool = False) -> Decimation:
    """Simplify every primitive in place to fit `budget` drawn triangles (kept vertices moved to
    fit the original best with `optimize_vertices`).

    Where the budget cannot be met, two fallbacks follow in turn. A file's normals split at hard
    edges make every crease a seam, and where creases crowd (a chair of double-sided panels whose
    two sides carry opposite normals) seams lock the collapse: meshoptimizer stalled at 56k of a 50k
    budget on such a 300k-triangle chair (the stress chair cut to 300k by our own `ar` export), then
    spent 4 s in futile passes before the last resort, which narrowed the chair by 2 cm and gives
    every corner the first vertex at its position (one side's normal for both sides). So the parts
    first go on without normals (welded where only they differed; the `normals` step computes
    creased ones afterwards): 2.0 s, the chair's size kept, Hausdorff 4.7e-3 of the diagonal at 50k
    (gltfpack: 4.3e-3 at 53.5k, its error limit). Only then are UV seams and borders collapsed.
    """
    parts = _parts(scene)
    least = sum(part.floor * part.instances for part in parts)
    if least > budget:
        raise ConversionError(
            errors.BUDGET_TOO_SMALL,
            f"A budget of {budget:,} triangles cannot keep all {len(parts)} parts of this model "
            f"({least:,} at least); raise max_triangles.")
    simplify = _simplify_moving_vertices if optimize_vertices else _simplify
    results = _to_budget(parts, budget, scene, simplify)
    normals_dropped = results is None and any(part.prim.normals is not None for part in parts)
    if normals_dropped:
        parts = [replace(part, prim=weld(replace(part.prim, normals=None))) for part in parts]
        results = _to_budget(parts, budget, scene, simplify)
    forced = results is None
    if forced:
        results = _to_counts(parts, budget, _simplify_across_seams, options=meshopt.PRUNE)
    for part, (simplified, _) in zip(parts, results):
        scene.meshes[part.mesh].primitives[part.index] = simplified
    error = max((err * part.scale for part, (_, err) in zip(parts, results)), default=0.0)
    return Decimation(error, forced, normals_dropped)


def _to_budget(parts: list[Part], budget: int, scene: Scene, simplify: Simplify):
    return _to_counts(parts, budget, simplify) if len(parts) == 1 else _equal_error(parts, budget, scene, simplify)


def _parts(scene: Scene) -> list[Part]:
    counts = scene.instance_counts()
    scales = [0.0] * len(scene.meshes)
    for inst in scene.instances:
        scales[inst.mesh] = max(scales[inst.mesh], float(np.linalg.norm(inst.matrix[:3, :3], axis=0).max()))
    return [Part(m, i, p, counts[m], scales[m]) for m, mesh in enumerate(scene.meshes)
            for i, p in enumerate(mesh.primitives) if counts[m] > 0]


def _drawn(parts: list[Part], results) -> int:
    return sum(simplified.triangle_count * part.instances for part, (simplified, _) in zip(parts, results))


def _equal_error(parts: list[Part], budget: int, scene: Scene, simplify: Simplify):
    """Bisect the world error at which every part, simplified down to it, fits the budget."""
    low, high = scene.bounds()
    hi = float(np.linalg.norm(high - low))
    lo = hi * 1e-7
    best = [simplify(part, part.floor, hi / part.scale) for part in parts]
    if _drawn(parts, best) > budget:
        return _to_counts(parts, budget, simplify)
    for _ in range(SEARCH_STEPS):
        mid = float(np.sqrt(lo * hi))
        trial = [simplify(part, part.floor, mid / part.scale) for part in parts]
        drawn = _drawn(parts, trial)
        if drawn <= budget:
            hi, best = mid, trial
            if drawn >= GOOD_ENOUGH * budget:
                break
        else:
            lo = mid
    return best


def _to_counts(parts: list[Part], budget: int, simplify: Simplify, options: int = 0):
    """The same share of every part's triangles, tuned until the drawn total is just under the budget.

    Returns the fullest result that fits, or None when none does.
    """
    ratio = budget / sum(part.prim.triangle_count * part.instances for part in parts)
    best, best_drawn, last_over = None, -1, None
    for _ in range(SEARCH_STEPS):
        results = [simplify(part, max(part.floor, int(part.prim.triangle_count * ratio)), None, options)
                   for part in parts]
        drawn = _drawn(parts, results)
        if best_drawn < drawn <= budget:
            best, best_drawn = results, drawn
        if GOOD_ENOUGH * budget <= drawn <= budget or (drawn <= budget and ratio >= 1):
            break
        if drawn > budget and last_over is not None and drawn > STALLED * last_over:
            break  # asked for fewer, got as many: the collapse is locked, more passes only cost time
        last_over = drawn if drawn > budget else None
        ratio *= budget / max(drawn, 1) * (0.99 if drawn > budget else 1.0)
    return best


def _simplify(part: Part, target: int, error: float | None, options: int = 0) -> tuple[Primitive, float]:
    """Collapse to `target` triangles or to `error` (absolute, the part's own units), whichever first."""
    prim = part.prim
    if target >= prim.triangle_count and error is None:
        return prim, 0.0
    attributes = None if prim.normals is None else prim.normals * NORMAL_WEIGHT
    weights = None if attributes is None else np.ones(3, dtype=np.float32)
    if error is None:
        faces, relative = meshopt.simplify(prim.positions, prim.faces, target, attributes, weights, 1.0, options)
        faces, reached = _without_slivers(prim.positions, faces), relative * meshopt.simplify_scale(prim.positions)
    else:
        faces, reached = meshopt.simplify(prim.positions, prim.faces, target, attributes, weights, error,
                                          options | meshopt.ERROR_ABSOLUTE)
        faces = _without_slivers(prim.positions, faces)
    if len(faces) == 0:  # a tiny part collapsed to nothing visible: keep it whole rather than lose it
        return prim, 0.0
    return _with_faces(prim, faces), reached


def _simplify_moving_vertices(part: Part, target: int, error: float | None, options: int = 0) -> tuple[Primitive, float]:
    """`_simplify`, then every kept vertex moved, its normal and UV solved with it (`meshopt_wasm`)."""
    prim = part.prim
    if target >= prim.triangle_count and error is None:
        return prim, 0.0
    present = [(values, weight) for values, weight in ((prim.normals, NORMAL_WEIGHT), (prim.uvs, UV_WEIGHT))
               if values is not None]
    attributes = np.hstack([values * weight for values, weight in present]) if present else None
    columns = 0 if attributes is None else attributes.shape[1]
    if error is not None:
        options |= meshopt.ERROR_ABSOLUTE
    done = meshopt_wasm.simplify_with_update(prim.positions, prim.faces, target, attributes, [1.0] * columns,
                                             1.0 if error is None else error, options)
    faces = _without_slivers(done.positions, done.faces)
    if len(faces) == 0:
        return prim, 0.0
    reached = done.error if error is not None else done.error * meshopt.simplify_scale(prim.positions)
    return _updated(prim, faces, done), reached


def _updated(prim: Primitive, faces: np.ndarray, done: meshopt_wasm.Simplified) -> Primitive:
    """`prim` with the simplifier's faces, moved positions and updated attributes (scaled back)."""
    normals, uvs = prim.normals, prim.uvs
    if normals is not None:  # solved as a blend, so no longer unit length (the weight divides out)
        solved = done.attributes[:, :3]
        normals = (solved / np.maximum(np.linalg.norm(solved, axis=1), 1e-30)[:, None]).astype(np.float32)
    if uvs is not None:
        start = 0 if normals is None else 3
        uvs = np.ascontiguousarray(done.attributes[:, start:start + 2] / UV_WEIGHT)
    return Primitive(done.positions, faces, prim.material, normals, uvs)


def _simplify_across_seams(part: Part, target: int, error: None, options: int) -> tuple[Primitive, float]:
    """The last resort: collapse as if vertices sharing a position were one (UV seams and hard edges
    included), then give each corner the first of that position's original vertices. Textures can
    smear along seams, so the report says so; it is still better than a missed budget."""
    prim = part.prim
    if target >= prim.triangle_count:
        return prim, 0.0
    _, first, inverse = np.unique(row_keys(prim.positions), return_index=True, return_inverse=True)
    welded = inverse.reshape(-1)[prim.faces]
    faces, relative = meshopt.simplify(prim.positions[first], welded, target, None, None, 1.0, options)
    faces = _without_slivers(prim.positions, first[faces].astype(np.uint32))
    if len(faces) == 0:
        return _with_faces(prim, prim.faces[: part.floor]), 0.0
    return _with_faces(prim, faces), relative * meshopt.simplify_scale(prim.positions)


def _with_faces(prim: Primitive, faces: np.ndarray) -> Primitive:
    return Primitive(prim.positions, faces, prim.material, prim.normals, prim.uvs)


def _without_slivers(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Collapses along a UV seam leave zero-area triangles between the seam's twin vertices (a
    quarter of the result on Duck at 10%); they draw nothing, so they must not use the budget."""
    return masked_rows(faces, doubled_area_squared(positions, faces) > 0)


def optimize_order(prim: Primitive) -> Primitive:
    """Vertex-cache order for triangles, first-use order for vertices (unused ones dropped)."""
    faces = meshopt.optimize_vertex_cache(prim.faces, prim.vertex_count)
    remap, kept = meshopt.vertex_fetch_remap(faces, prim.vertex_count)
    return prim.renumbered(remap, kept, faces)
