"""The geometric error between two versions of a scene, measured the way ../shared/bench/quality.py
does, so the report and the benchmark speak the same language.

Points are sampled on each surface (area-weighted, fixed seed) and their exact distance to the
other surface is computed (libigl's AABB tree); both directions. Results are divided by the
ORIGINAL's bounding-box diagonal: `hausdorff` is the symmetric Hausdorff distance, `mean` the
symmetric mean surface distance. Node transforms are applied (world space).
"""
from __future__ import annotations

import numpy as np

from .scene import Scene, transform_points


def world_triangles(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """All placed triangles as one vertex array and one face array (float64, int64)."""
    vertices, faces, offset = [], [], 0
    for inst, prim in scene.world_primitives():
        vertices.append(transform_points(prim.positions, inst.matrix))
        faces.append(prim.faces.astype(np.int64) + offset)
        offset += prim.vertex_count
    return np.vstack(vertices), np.vstack(faces)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    area = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    chosen = rng.choice(len(faces), size=count, p=area / area.sum())
    r1, r2 = rng.random((2, count, 1))
    flip = (r1 + r2) > 1
    r1, r2 = np.where(flip, 1 - r1, r1), np.where(flip, 1 - r2, r2)
    return a[chosen] + r1 * (b[chosen] - a[chosen]) + r2 * (c[chosen] - a[chosen])


def surface_error(original: tuple[np.ndarray, np.ndarray], simplified: tuple[np.ndarray, np.ndarray],
                  samples: int) -> dict:
    try:
        import igl
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError("measuring the geometric error needs libigl: pip install libigl") from exc
    (va, fa), (vb, fb) = original, simplified
    pa, pb = sample_surface(va, fa, samples, 0), sample_surface(vb, fb, samples, 1)
    dab = np.sqrt(igl.point_mesh_squared_distance(pa, vb, fb)[0])
    dba = np.sqrt(igl.point_mesh_squared_distance(pb, va, fa)[0])
    diagonal = float(np.linalg.norm(va.max(axis=0) - va.min(axis=0)))
    return {"hausdorff": float(max(dab.max(), dba.max()) / diagonal),
            "mean": float((dab.mean() + dba.mean()) / 2 / diagonal), "samples": samples}
