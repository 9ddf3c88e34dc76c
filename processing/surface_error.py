"""The geometric error between two versions of a scene, measured the way ../shared/bench/quality.py
does, so the report and the benchmark speak the same language.

Points are sampled on each surface (area-weighted, fixed seed) and their exact distance to the
other surface is computed (libigl's AABB tree); both directions. Results are divided by the
ORIGINAL's bounding-box diagonal: `hausdorff` is the symmetric Hausdorff distance, `mean` the
symmetric mean surface distance. Node transforms are applied (world space).

Speed (issue 3): the original's side — its samples and its AABB tree, 3.7-6 s on the
1.9M-triangle stress model, almost all of it libigl's tree build — is a `SurfaceReference` of its
own, so `decimate` builds it on a second thread while meshoptimizer simplifies (the ctypes call
releases the GIL; libigl holds it, so the two overlap only while the simplifier runs, which is
the long part). Sampling computes face areas per component and gathers corners only for the
chosen faces (1.05 s -> ~0.3 s on 1.9M faces), with the same random draws as before, so the
figures are unchanged. Tried and dropped: splitting long triangles before building the tree, to
speed up queries on the chair stress model (its stacked, overlapping parts make each query visit
many boxes): no gain; dropping its repeated faces from the trees (same points, fewer boxes) cut
the queries by a third. Also tried: k-d trees of triangle centres grouped by triangle radius, with
libigl only on the candidates each query's bound leaves (exact, same distances): 2.3 s to build
but 4.5 s to query on the 1.9M-triangle model, whose long CAD slivers leave ~2M candidates.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .repair import face_cross
from .scene import Instance, Primitive, transform_points


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
    cross = face_cross(vertices, faces)
    area = np.sqrt(np.einsum("ij,ij->i", cross, cross))
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
        self.points = sample_surface(self.vertices, self.faces, samples, 0)
        self.diagonal = float(np.linalg.norm(self.vertices.max(axis=0) - self.vertices.min(axis=0)))
        self.tree_faces = distinct_faces(self.faces)
        self.tree = _igl().AABB()
        self.tree.init(self.vertices, self.tree_faces)

    def error_to(self, simplified: tuple[np.ndarray, np.ndarray]) -> dict:
        """Symmetric Hausdorff and mean distance between the original and `simplified`, as
        fractions of the original's bounding-box diagonal."""
        vb, fb = simplified
        pb = sample_surface(vb, fb, self.samples, 1)
        dab = np.sqrt(_igl().point_mesh_squared_distance(self.points, vb, distinct_faces(fb))[0])
        dba = np.sqrt(self.tree.squared_distance(self.vertices, self.tree_faces, pb)[0])
        return {"hausdorff": float(max(dab.max(), dba.max()) / self.diagonal),
                "mean": float((dab.mean() + dba.mean()) / 2 / self.diagonal), "samples": self.samples}


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
    if np.all(np.diff(np.sort(keys)) != 0):  # the common case, found with a plain sort
        return faces
    order = np.argsort(keys, kind="stable")
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[order[1:]] != keys[order[:-1]]
    return faces[np.sort(order[first])]


def _igl():
    try:
        import igl
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError("measuring the geometric error needs libigl: pip install libigl") from exc
    return igl
