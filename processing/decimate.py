"""decimate: bring the whole product under an absolute triangle budget, keeping its look.

The budget is for the whole scene as drawn: a mesh placed three times costs its triangles three
times. Every primitive gets the same share of its own triangles (budget / total), simplified with
meshoptimizer's attribute-aware collapse (normals in the metric; UV seams and material borders are
kept because vertices that differ in UV or material are never merged). When some parts cannot go
as low as asked (locked seams, tiny parts), the others are asked again for the shortfall; no part
is deleted outright (each keeps at least MIN_PART_TRIANGLES or what it had).

Then, for every primitive: slivers the collapse left with no area dropped, triangles reordered for the vertex cache and vertices for fetch, which
also drops the vertices the simplifier left unused.

Design note: a share proportional to each part's triangle count is the first version (issue 2);
allocating by simplification error per part (so flat parts give more) is the next.
"""
from __future__ import annotations

import numpy as np

from . import meshopt
from .repair import drop_degenerate
from .scene import Primitive, Scene
from .settings import Settings

MIN_PART_TRIANGLES = 4
NORMAL_WEIGHT = 0.5
ROUNDS = 6


def run(conv, settings: Settings) -> None:
    scene: Scene = conv.scene
    before = scene.triangle_count
    budget = settings.max_triangles
    if before > budget:
        error = simplify_to_budget(scene, budget)
        conv.report.assume(f"decimated {before:,} -> {scene.triangle_count:,} triangles (budget {budget:,})")
        conv.report.note(relative_error=round(error, 6))
    for mesh in scene.meshes:
        mesh.primitives = [optimize_order(drop_degenerate(p)) for p in mesh.primitives]


def simplify_to_budget(scene: Scene, budget: int) -> float:
    """Simplify every primitive in place; returns the largest relative error reached."""
    counts = scene.instance_counts()
    parts = [(m, i, p, counts[m]) for m, mesh in enumerate(scene.meshes)
             for i, p in enumerate(mesh.primitives) if counts[m] > 0]
    floors = {id(p): min(p.triangle_count, MIN_PART_TRIANGLES) for _, _, p, _ in parts}
    ratio = budget / max(scene.triangle_count, 1)
    results: dict[int, tuple[np.ndarray, float]] = {}
    for _ in range(ROUNDS):
        results = {id(p): _simplify(p, max(floors[id(p)], int(p.triangle_count * ratio))) for _, _, p, _ in parts}
        drawn = sum(len(results[id(p)][0]) * n for _, _, p, n in parts)
        if drawn <= budget:
            break
        ratio *= budget / drawn * 0.97
    else:
        results = _forced(parts, budget, floors)
    for m, i, p, _ in parts:
        faces, _ = results[id(p)]
        scene.meshes[m].primitives[i] = Primitive(p.positions, faces, p.material, p.normals, p.uvs)
    return max((err for _, err in results.values()), default=0.0)


def _simplify(prim: Primitive, target: int) -> tuple[np.ndarray, float]:
    if target >= prim.triangle_count:
        return prim.faces, 0.0
    attributes = None if prim.normals is None else prim.normals * NORMAL_WEIGHT
    weights = None if attributes is None else np.ones(3, dtype=np.float32)
    return meshopt.simplify(prim.positions, prim.faces, target, attributes, weights, target_error=1.0)


def _forced(parts, budget: int, floors: dict) -> dict[int, tuple[np.ndarray, float]]:
    """Last resort when locked seams stop the collapse: allow border collapses (PRUNE)."""
    ratio = budget / sum(p.triangle_count * n for _, _, p, n in parts)
    results = {}
    for _ in range(ROUNDS):
        results = {id(p): meshopt.simplify(p.positions, p.faces, max(floors[id(p)], int(p.triangle_count * ratio)),
                                           target_error=1.0, options=meshopt.PRUNE)
                   for _, _, p, _ in parts}
        drawn = sum(len(results[id(p)][0]) * n for _, _, p, n in parts)
        if drawn <= budget:
            return results
        ratio *= budget / drawn * 0.9
    raise ValueError(f"could not reach {budget} triangles")


def optimize_order(prim: Primitive) -> Primitive:
    """Vertex-cache order for triangles, first-use order for vertices (unused ones dropped)."""
    faces = meshopt.optimize_vertex_cache(prim.faces, prim.vertex_count)
    remap, kept = meshopt.vertex_fetch_remap(faces, prim.vertex_count)
    order = np.empty(kept, dtype=np.int64)
    used = remap != 0xFFFFFFFF
    order[remap[used]] = np.nonzero(used)[0]
    return Primitive(
        positions=prim.positions[order],
        faces=remap[faces].astype(np.uint32),
        material=prim.material,
        normals=None if prim.normals is None else prim.normals[order],
        uvs=None if prim.uvs is None else prim.uvs[order],
    )
