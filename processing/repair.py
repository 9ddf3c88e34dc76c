"""repair: weld, drop degenerate and unused geometry, and give every primitive usable normals.

- weld: vertices equal in every attribute (position, normal, UV) become one. STL and many OBJ
  exports repeat each vertex per triangle; welding is what lets the simplifier see a surface.
  Only exact duplicates merge, so UV seams and hard edges (which differ in UV or normal) stay.
- faces with a repeated corner are dropped, then unreferenced vertices; faces of no area too, unless
  decimation will move vertices (`Settings.optimizes_vertices`). For meshoptimizer 1.3 those whose
  three corners are distinct vertices stay (`decimate.tidy` drops them, and every face of no area):
  at a sphere's pole or along a UV seam they join vertices that share a position but not a UV, and
  without them it finds open borders there, which it must keep. Issue 3: dropped, they cost the
  corpus capsule half its accuracy at 1k triangles (Hausdorff 4.2e-3 -> 2.2e-3 of the diagonal
  kept; gltfpack, which keeps them: 3.85e-3). The native 0.22 simplifier gains nothing from them
  (capsule 7.6e-3 -> 7.4e-3, stress capsule alike) and leaves them as slivers that take budget
  (stress capsule -> 50k: its search took 1.7 s instead of 0.5).
- normals the file has are made unit length (zero or broken ones replaced by face normals).
  Missing normals are computed later, by the `normals` step after decimation: computing them
  here would split vertices along every crease, which the simplifier must then treat as seams
  (measured on the 1.9M-triangle stress model: 43 s in repair and a worse result).

Speed (issue 3, stress models 0.5-1.9M triangles): welding and dropping unused vertices went from
np.unique over row bytes (a sort) to meshoptimizer's hashed remaps, which also number vertices in
first-use order. The sort had scattered neighbouring vertices across memory, and every later pass
paid for it in cache misses: on the 1.9M-triangle model repair fell from 2.9 s to 1.3 s and the
simplifier from 6.1 s to 2.0 s on the same input, with the same welded vertex set. Face areas are
computed per coordinate column (`face_cross`), bit-identical to np.cross and ~2x faster.
"""
from __future__ import annotations

import numpy as np

from . import meshopt
from .rows import masked_rows
from .scene import Primitive
from .settings import Settings


def run(conv, settings: Settings) -> None:
    drop = drop_repeated_corners if settings.optimizes_vertices(conv.scene.triangle_count) else drop_degenerate
    for mesh in conv.scene.meshes:
        for index, prim in enumerate(mesh.primitives):
            prim = drop(weld(prim))
            if prim.normals is not None:
                prim.normals = unit_normals(prim.normals, prim)
            mesh.primitives[index] = prim
        mesh.primitives = [p for p in mesh.primitives if p.triangle_count > 0]


def weld(prim: Primitive) -> Primitive:
    """Merge vertices identical in every attribute (byte-equal float32 rows), numbered in the
    order faces first use them; vertices no face uses are dropped."""
    columns = [prim.positions] + [a for a in (prim.normals, prim.uvs) if a is not None]
    remap, kept = meshopt.unique_vertex_remap(prim.faces, np.hstack(columns).astype(np.float32))
    return prim.renumbered(remap, kept)


def drop_repeated_corners(prim: Primitive) -> Primitive:
    """Remove faces with a repeated vertex, then vertices no face uses."""
    return _keeping(prim, _distinct_corners(prim.faces))


def drop_degenerate(prim: Primitive) -> Primitive:
    """Remove faces with a repeated vertex or no area, then vertices no face uses."""
    return _keeping(prim, _distinct_corners(prim.faces) & (doubled_area_squared(prim.positions, prim.faces) > 0))


def _distinct_corners(faces: np.ndarray) -> np.ndarray:
    return (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])


def _keeping(prim: Primitive, kept_faces: np.ndarray) -> Primitive:
    faces = masked_rows(prim.faces, kept_faces)
    remap, kept = meshopt.vertex_fetch_remap(faces, prim.vertex_count)
    return prim.renumbered(remap, kept, faces)


def face_normals(positions: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit face normals and twice the face areas."""
    cross = face_cross(positions, faces)
    length = np.sqrt(np.einsum("ij,ij->i", cross, cross))
    return cross / np.maximum(length, 1e-30)[:, None], length


def face_cross(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(b - a) x (c - a) per face, in float64, one row per face."""
    return np.stack(_cross_columns(positions, faces), axis=1)


def doubled_area_squared(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """|(b - a) x (c - a)|² per face, in float64: zero exactly where `face_cross` is zero. Summed
    from the cross product's columns without gathering them into rows (on the stress chair's 482k
    faces the rows cost a third of `face_cross`'s time)."""
    cx, cy, cz = _cross_columns(positions, faces)
    cx *= cx
    cx += cy * cy
    cx += cz * cz
    return cx


def _cross_columns(positions: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The x, y and z of (b - a) x (c - a) per face. Written out per coordinate, gathering from one
    contiguous column at a time: 0.4 s on 1.9M faces where np.cross over gathered rows took
    0.7-0.9 s, with bit-identical results."""
    i, j, k = (faces[:, n].astype(np.intp) for n in range(3))
    (ux, vx), (uy, vy), (uz, vz) = (_edges(column, i, j, k) for column in positions.astype(np.float64, copy=False).T)
    return uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx


def _edges(column: np.ndarray, i: np.ndarray, j: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One coordinate of b - a and c - a per face (one corner column held at a time: the peak
    memory of the 1.9M-triangle stress model depends on it)."""
    column = np.ascontiguousarray(column)
    a = column[i]
    return column[j] - a, column[k] - a


def unit_normals(normals: np.ndarray, prim: Primitive) -> np.ndarray:
    """Normals of length one; zero or non-finite ones replaced by the adjacent face normal."""
    normals = np.nan_to_num(normals.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    length = np.linalg.norm(normals, axis=1)
    bad = length < 1e-12
    if bad.any():
        fn, _ = face_normals(prim.positions, prim.faces.astype(np.int64))
        fallback = np.zeros_like(normals)
        fallback[prim.faces.reshape(-1)] = np.repeat(fn, 3, axis=0)
        normals[bad] = fallback[bad]
        length = np.linalg.norm(normals, axis=1)
    normals /= np.maximum(length, 1e-30)[:, None]
    still_bad = np.linalg.norm(normals, axis=1) < 0.5
    normals[still_bad] = (0.0, 1.0, 0.0)
    return normals.astype(np.float32)
