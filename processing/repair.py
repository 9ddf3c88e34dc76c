"""repair: weld, drop degenerate and unused geometry, and give every primitive usable normals.

- weld: vertices equal in every attribute (position, normal, UV) become one. STL and many OBJ
  exports repeat each vertex per triangle; welding is what lets the simplifier see a surface.
  Only exact duplicates merge, so UV seams and hard edges (which differ in UV or normal) stay.
- degenerate faces (a repeated index, or zero area) are dropped, then unreferenced vertices.
- normals the file has are made unit length (zero or broken ones replaced by face normals).
  Missing normals are computed later, by the `normals` step after decimation: computing them
  here would split vertices along every crease, which the simplifier must then treat as seams
  (measured on the 1.9M-triangle stress model: 43 s in repair and a worse result).
"""
from __future__ import annotations

import numpy as np

from .scene import Primitive
from .settings import Settings


def run(conv, settings: Settings) -> None:
    computed = 0
    for mesh in conv.scene.meshes:
        for index, prim in enumerate(mesh.primitives):
            prim = drop_degenerate(weld(prim))
            if prim.normals is not None:
                prim.normals = unit_normals(prim.normals, prim)
            mesh.primitives[index] = prim
        mesh.primitives = [p for p in mesh.primitives if p.triangle_count > 0]


def weld(prim: Primitive) -> Primitive:
    """Merge vertices identical in every attribute."""
    columns = [prim.positions] + [a for a in (prim.normals, prim.uvs) if a is not None]
    _, first, inverse = np.unique(row_keys(np.hstack(columns).astype(np.float32)),
                                  return_index=True, return_inverse=True)
    return _remapped(prim, first, inverse.reshape(-1)[prim.faces])


def row_keys(rows: np.ndarray) -> np.ndarray:
    """One opaque value per row, so np.unique compares whole rows at the speed of bytes."""
    rows = np.ascontiguousarray(rows)
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def drop_degenerate(prim: Primitive) -> Primitive:
    """Remove faces with a repeated vertex or no area, then vertices no face uses."""
    f = prim.faces
    distinct = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    _, area2 = face_normals(prim.positions, f)
    faces = f[distinct & (area2 > 0)]
    used, inverse = np.unique(faces.reshape(-1), return_inverse=True)
    return _remapped(prim, used, inverse.reshape(-1, 3))


def _remapped(prim: Primitive, keep: np.ndarray, faces: np.ndarray) -> Primitive:
    return Primitive(
        positions=prim.positions[keep],
        faces=faces.reshape(-1, 3).astype(np.uint32),
        material=prim.material,
        normals=None if prim.normals is None else prim.normals[keep],
        uvs=None if prim.uvs is None else prim.uvs[keep],
    )


def face_normals(positions: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit face normals and twice the face areas."""
    p = positions.astype(np.float64)
    cross = np.cross(p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]])
    length = np.linalg.norm(cross, axis=1)
    return cross / np.maximum(length, 1e-30)[:, None], length


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
