"""normals: give every primitive that has none smooth normals with crisp creases.

Runs after decimation (see repair.py for why): cheaper on the reduced mesh, and the simplifier
never sees creases as seams. Normals are smoothed per position (weighted by corner angle, so a box corner's smoothed
normal is symmetric whatever its triangulation; across UV seams,
since vertices split only by UV share one surface); a corner whose face turns more than
CREASE_DEGREES from that smoothed normal keeps its face normal, so a box stays a box and a
cushion stays round. Vertices are split only where a corner's normal differs.
"""
from __future__ import annotations

import numpy as np

from .repair import face_normals, row_keys
from .scene import Primitive
from .settings import Settings

CREASE_DEGREES = 40.0


def run(conv, settings: Settings) -> None:
    computed = 0
    for mesh in conv.scene.meshes:
        for index, prim in enumerate(mesh.primitives):
            if prim.normals is None:
                mesh.primitives[index] = with_crease_normals(prim, CREASE_DEGREES)
                computed += 1
    if computed:
        conv.report.assume(f"normals computed for {computed} part(s) without them (crease angle {CREASE_DEGREES:g} degrees)")


def with_crease_normals(prim: Primitive, crease_degrees: float) -> Primitive:
    faces = prim.faces.astype(np.int64)
    fn, _ = face_normals(prim.positions, faces)
    _, position_id = np.unique(row_keys(prim.positions.astype(np.float32)), return_inverse=True)
    corner_position = position_id.reshape(-1)[faces].reshape(-1)
    weighted = np.repeat(fn, 3, axis=0) * corner_angles(prim.positions, faces)[:, None]
    bins = int(position_id.max()) + 1
    smooth = np.stack([np.bincount(corner_position, weighted[:, k], minlength=bins) for k in range(3)], axis=1)
    smooth /= np.maximum(np.linalg.norm(smooth, axis=1), 1e-30)[:, None]
    corner_face = np.repeat(fn, 3, axis=0)
    corner_normal = smooth[corner_position]
    sharp = np.einsum("ij,ij->i", corner_normal, corner_face) < np.cos(np.radians(crease_degrees))
    corner_normal[sharp] = corner_face[sharp]
    # A sliver face has no direction of its own: it takes the surface's; a lone one gets +Y.
    lost = np.linalg.norm(corner_normal, axis=1) < 0.5
    corner_normal[lost] = smooth[corner_position][lost]
    corner_normal[np.linalg.norm(corner_normal, axis=1) < 0.5] = (0.0, 1.0, 0.0)
    return _split_by_corner_normal(prim, faces.reshape(-1), corner_normal.astype(np.float32))


def corner_angles(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The angle at each corner of each face, flattened (3 per face)."""
    p = positions.astype(np.float64)[faces]
    angles = np.empty((len(faces), 3))
    for k in range(3):
        a = p[:, (k + 1) % 3] - p[:, k]
        b = p[:, (k + 2) % 3] - p[:, k]
        cos = np.einsum("ij,ij->i", a, b) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
        angles[:, k] = np.arccos(np.clip(cos, -1.0, 1.0))
    return angles.reshape(-1)


def _split_by_corner_normal(prim: Primitive, corner_vertex: np.ndarray, corner_normal: np.ndarray) -> Primitive:
    """One vertex per distinct (vertex, normal) pair among the corners."""
    quantized = np.round(corner_normal * 1e5).astype(np.int32)
    keys = row_keys(np.hstack([corner_vertex.astype(np.int32)[:, None], quantized]))
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    source = corner_vertex[first]
    return Primitive(
        positions=prim.positions[source],
        faces=inverse.reshape(-1, 3).astype(np.uint32),
        material=prim.material,
        normals=corner_normal[first],
        uvs=None if prim.uvs is None else prim.uvs[source],
    )
