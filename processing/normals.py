"""normals: give every primitive that has none smooth normals with crisp creases.

Runs after decimation (see repair.py for why): cheaper on the reduced mesh, and the simplifier
never sees creases as seams. Normals are smoothed per position (weighted by corner angle, so a box corner's smoothed
normal is symmetric whatever its triangulation; across UV seams,
since vertices split only by UV share one surface); a corner whose face turns more than
CREASE_DEGREES from that smoothed normal is sharp, and takes the mean of the faces at its position
within CREASE_DEGREES of its own: a box stays a box, a cushion stays round, and a curved panel
stays round up to its sharp edge. Vertices are split only where a corner's normal differs.

History (issue 3): sharp corners first kept their own face's normal. A can's side then shaded as
flat facets (every side corner is at the sharp rim), and on CAD models — curved panels meeting at
sharp edges — every such corner became a vertex of its own: the chair stress model at 50k
triangles had 88.9k vertices for 43.7k positions; with the mean it has 61.8k (ar GLB 2.73 -> 1.78
MB, web 487 -> 401 KB), for ~0.1 s more in this step.

History (issue 3): positions and (vertex, normal) pairs were grouped with np.unique, a sort; they
are grouped with meshoptimizer's hashed remap now (0.30 -> ~0.1 s on 50k triangles), which also
keeps the vertices in first-use order instead of scattering them. Rows are picked with
`rows.take_rows` and corner angles come from each face's three edges: 0.23 -> 0.13 s on the chair
stress model at 50k.
"""
from __future__ import annotations

import numpy as np

from . import meshopt
from .repair import face_normals
from .rows import take_rows
from .scene import Primitive
from .settings import Settings

CREASE_DEGREES = 40.0
MAX_PAIRED = 64  # corners at one position compared pairwise (64² pairs at most per position)
PAIRS_AT_ONCE = 1 << 21  # ~200 MB of temporaries at most, whatever the budget (5M triangles allowed)


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
    position_id, bins = meshopt.unique_vertex_remap(faces, prim.positions.astype(np.float32))
    corner_position = position_id[faces].reshape(-1)
    corner_face = np.repeat(fn, 3, axis=0)
    weighted = corner_face * corner_angles(prim.positions, faces)[:, None]
    smooth = _unit(np.stack([np.bincount(corner_position, weighted[:, k], minlength=bins) for k in range(3)], axis=1))
    corner_normal = _creased(corner_position, corner_face, weighted, smooth, np.cos(np.radians(crease_degrees)))
    # A sliver face has no direction of its own: it takes the surface's; a lone one gets +Y.
    lost = np.flatnonzero(_lengths(corner_normal) < 0.5)
    corner_normal[lost] = take_rows(smooth, corner_position[lost])
    corner_normal[lost[_lengths(corner_normal[lost]) < 0.5]] = (0.0, 1.0, 0.0)
    return _split_by_corner_normal(prim, faces.reshape(-1), corner_normal.astype(np.float32))


def _creased(corner_position: np.ndarray, corner_face: np.ndarray, weighted: np.ndarray, smooth: np.ndarray,
             cos_crease: float) -> np.ndarray:
    """Each corner's normal: its position's smooth normal, unless its face turns more than the
    crease angle from that; such a sharp corner takes the angle-weighted mean of the face normals
    at its position that turn less than the crease angle from its own face's. Sharp corners on one
    side of a crease then agree exactly (the same faces, summed in the same order) and share one
    vertex, where each keeping its own face's normal split every one of them (CAD fans: coplanar
    faces whose normals differ in the last digits). Positions with more than MAX_PAIRED corners (a
    cone's apex, a hostile fan) keep the face's own normal at sharp corners."""
    normal = take_rows(smooth, corner_position)
    sharp = np.einsum("ij,ij->i", normal, corner_face) < cos_crease
    np.copyto(normal, corner_face, where=sharp[:, None])
    order = np.argsort(corner_position, kind="stable")
    sizes = np.bincount(corner_position, minlength=len(smooth))
    starts = np.cumsum(sizes) - sizes
    mine = np.flatnonzero(sharp & (sizes[corner_position] <= MAX_PAIRED))
    valence = sizes[corner_position[mine]]
    for chunk in np.array_split(np.arange(len(mine)), 1 + int(valence.sum()) // PAIRS_AT_ONCE):
        corners, counts = mine[chunk], valence[chunk]
        local = np.repeat(np.arange(len(chunk)), counts)
        partner = order[starts[corner_position[corners]][local] + np.arange(len(local))
                        - np.repeat(np.cumsum(counts) - counts, counts)]
        near = np.einsum("ij,ij->i", take_rows(corner_face, corners[local]), take_rows(corner_face, partner)) >= cos_crease
        local, partner = local[near], partner[near]
        near_weighted = take_rows(weighted, partner)
        summed = np.stack([np.bincount(local, near_weighted[:, k], minlength=len(chunk)) for k in range(3)], axis=1)
        normal[corners] = _unit(summed)
    return normal


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(_lengths(vectors), 1e-30)[:, None]


def _lengths(vectors: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...j,...j->...", vectors, vectors))


def corner_angles(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The angle at each corner of each face, flattened (3 per face)."""
    p = take_rows(positions.astype(np.float64), faces.reshape(-1)).reshape(-1, 3, 3)
    edges = np.roll(p, -1, axis=1) - p  # edge k runs from corner k to corner k + 1
    lengths = _lengths(edges)
    arriving = np.roll(edges, 1, axis=1)  # the edge from corner k - 1 to corner k
    cos = -np.einsum("fkj,fkj->fk", edges, arriving) / np.maximum(lengths * np.roll(lengths, 1, axis=1), 1e-30)
    return np.arccos(np.clip(cos, -1.0, 1.0)).reshape(-1)


def _split_by_corner_normal(prim: Primitive, corner_vertex: np.ndarray, corner_normal: np.ndarray) -> Primitive:
    """One vertex per distinct (vertex, normal) pair among the corners, in first-use order (the
    order `decimate` left for the vertex fetch)."""
    quantized = np.round(corner_normal * 1e5).astype(np.int32)
    pairs = np.hstack([corner_vertex.astype(np.int32)[:, None], quantized])
    corners = np.arange(len(pairs), dtype=np.uint32)
    new_id, count = meshopt.unique_vertex_remap(corners, pairs)
    first = np.empty(count, dtype=np.int64)
    first[new_id[::-1]] = corners[::-1]  # written last to first: each id keeps its first corner
    source = corner_vertex[first]
    return Primitive(
        positions=take_rows(prim.positions, source),
        faces=new_id.reshape(-1, 3),
        material=prim.material,
        normals=take_rows(corner_normal, first),
        uvs=None if prim.uvs is None else take_rows(prim.uvs, source),
    )
