"""The geometric error between two versions of a scene, measured the way ../shared/bench/quality.py
does, so the report and the benchmark speak the same language.

Points are sampled on each surface (area-weighted, fixed seed) and their exact distance to the
other surface is computed (a bounding-volume hierarchy); both directions. Results are divided by
the ORIGINAL's bounding-box diagonal: `hausdorff` is the symmetric Hausdorff distance, `mean` the
symmetric mean surface distance. Node transforms are applied (world space).

The distance queries are fcpw's (a SIMD BVH in single precision; coordinates are taken relative to
the original's centre first, so the float32 rounding is ~1e-7 of the model's size). `decimate`
builds the `SurfaceReference` in a forked process (`forked`) while it simplifies.

History (issue 3): libigl's AABB tree was used first, as quality.py does. On the stress models
fcpw builds in 0.3x libigl's time (longest-axis split) and queries in 0.35-0.5x, and the figures agree to 3-4
significant digits (Hausdorff/diag on gltfpack's outputs, libigl vs fcpw: chair 2.6267e-3 both,
capsule 3.7088e-4 both, adis 4.7274e-4 both; single points differ by up to 1.4e-4 of the diagonal
on long slivers, float32 against float64). Sampling computes face areas per component and gathers
corners only for the chosen faces (1.05 s -> ~0.3 s on 1.9M faces). Tried and dropped with
libigl: splitting long triangles before building the tree (no gain); k-d trees of triangle
centres grouped by radius (slower on CAD slivers). Repeated faces are left out of the trees (same
points, fewer boxes: a third off the chair's queries), and queries run in Z-order (half the CPU
again on the chair, whose 20k queries had cost 1.1 CPU-s; fcpw spreads a batch over every core).
A search radius guessed from the simplifier's error did not speed fcpw's queries up at all.
The chair's queries stay ~6x dearer than the capsule's or adis's (24 vs 4 us each): a point on it lies
in ~115 triangle boxes, of which ~2 lie within 1e-4 of the diagonal (long thin triangles beside other
surfaces); splitting long triangles, fcpw's other BVH builds and unvectorised nodes gained nothing
worth their build time.
The default sample count went from 20k to 10k for that reason (`Settings.error_samples`, with figures).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

try:  # loaded before any fork: the measuring child then loads no native library of its own
    import fcpw
except ImportError as exc:  # pragma: no cover - a declared dependency
    raise ImportError("measuring the geometric error needs fcpw: pip install fcpw") from exc

from .repair import doubled_area_squared
from .rows import masked_rows
from .scene import Instance, Primitive, column_extremes, transform_points


def world_triangles(placed: Iterable[tuple[Instance, Primitive]]) -> tuple[np.ndarray, np.ndarray]:
    """All placed triangles (`Scene.world_primitives()`) as one vertex array and one face array
    (float64, int64)."""
    vertices, faces, offset = [], [], 0
    for inst, prim in placed:
        vertices.append(transform_points(prim.positions, inst.matrix))
        faces.append(prim.faces.astype(np.int64) + offset)
        offset += prim.vertex_count
    return np.vstack(vertices), np.vstack(faces)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` points uniformly distributed over the surface's area."""
    rng = np.random.default_rng(seed)
    area = np.sqrt(doubled_area_squared(vertices, faces))
    chosen = faces[rng.choice(len(faces), size=count, p=area / area.sum())]
    r1, r2 = rng.random((2, count, 1))
    flip = (r1 + r2) > 1
    r1, r2 = np.where(flip, 1 - r1, r1), np.where(flip, 1 - r2, r2)
    a, b, c = (vertices[chosen[:, k]] for k in range(3))
    return a + r1 * (b - a) + r2 * (c - a)


class SurfaceReference:
    """The original surface, ready to be compared with simplified versions of it."""

    def __init__(self, placed: list[tuple[Instance, Primitive]], samples: int):
        self.vertices, self.faces = world_triangles(placed)
        self.samples = samples
        self.points = spatially_sorted(sample_surface(self.vertices, self.faces, samples, 0))
        low, high = column_extremes(self.vertices)
        self.diagonal = float(np.linalg.norm(high - low))
        self.centre = (high + low) / 2
        self.tree = _tree(self.vertices - self.centre, distinct_faces(self.faces))

    def error_to(self, simplified: tuple[np.ndarray, np.ndarray]) -> dict:
        """Symmetric Hausdorff and mean distance between the original and `simplified`, as
        fractions of the original's bounding-box diagonal."""
        vb, fb = simplified
        pb = spatially_sorted(sample_surface(vb, fb, self.samples, 1))
        dab = _distances(_tree(vb - self.centre, distinct_faces(fb)), self.points - self.centre)
        dba = _distances(self.tree, pb - self.centre)
        return {"hausdorff": float(max(dab.max(), dba.max()) / self.diagonal),
                "mean": float((dab.mean() + dba.mean()) / 2 / self.diagonal), "samples": self.samples}


def spatially_sorted(points: np.ndarray) -> np.ndarray:
    """The points along a Z-order (Morton) curve over their box, 10 bits per axis. Queries that
    follow each other then walk the same branches of the tree, still in cache: on the chair stress
    model 20k queries took 0.55 CPU-s instead of 1.12 (fcpw runs a batch on every core). The
    figures do not depend on the order."""
    low, high = column_extremes(points)
    cells = ((points - low) / np.maximum(high - low, 1e-30) * 1023).astype(np.uint64)
    return points[np.argsort(_spread_bits(cells[:, 0]) | _spread_bits(cells[:, 1]) << 1 | _spread_bits(cells[:, 2]) << 2)]


def _spread_bits(x: np.ndarray) -> np.ndarray:
    """Bits 0-9 of `x` moved to bits 0, 3, 6, ... 27 (room for two more axes between them)."""
    x = (x | x << 16) & 0x30000FF
    x = (x | x << 8) & 0x300F00F
    x = (x | x << 4) & 0x30C30C3
    return (x | x << 2) & 0x9249249


def distinct_faces(faces: np.ndarray) -> np.ndarray:
    """One of each set of faces with the same three corners (in any order). Such faces cover the
    same points, so distances to the surface are unchanged, but every copy is another box an AABB
    query must open: the chair stress model has 69k of them among 482k faces. Meshes of 2M
    vertices or more (whose three indices do not fit one 64-bit key) are returned as they are."""
    a, b, c = faces[:, 0].astype(np.int64), faces[:, 1].astype(np.int64), faces[:, 2].astype(np.int64)
    low, high = np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)
    if len(faces) == 0 or high.max() >= 1 << 21:  # the three indices no longer fit one int64 key
        return faces
    keys = (low << 42) | ((a + b + c - low - high) << 21) | high
    # A stable sort (timsort): faces mostly come in vertex order, so the keys are nearly sorted
    # already — 9 ms on the chair's 482k faces, where numpy's default sort took 23.
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    if first.all():
        return faces
    kept = np.zeros(len(keys), dtype=bool)
    kept[order[first]] = True
    return masked_rows(faces, kept)


def _tree(vertices: np.ndarray, faces: np.ndarray):
    """A closest-point BVH over one triangle soup (fcpw's, split at the longest axis's centre,
    vectorised): for 20k queries the build is most of the cost, and this split builds 2.7x faster
    than the surface-area heuristic on the 1.9M-triangle stress model, queries within 10%."""
    tree = fcpw.scene_3D()
    tree.set_object_count(1)
    tree.set_object_vertices(np.ascontiguousarray(vertices, dtype=np.float32), 0)
    tree.set_object_triangles(np.ascontiguousarray(faces, dtype=np.int32), 0)
    tree.build(fcpw.aggregate_type.bvh_longest_axis_center, True)
    return tree


def _distances(tree, points: np.ndarray) -> np.ndarray:
    """Exact distance from each point to the tree's surface (no search radius)."""
    found = fcpw.interaction_3D_list()
    tree.find_closest_points(np.asfortranarray(points, dtype=np.float32),
                             np.full(len(points), np.inf, dtype=np.float32), found)
    return np.fromiter((hit.d for hit in found), dtype=np.float64, count=len(points))
