"""surface_error: the geometric error the report gives, on shapes whose true error is known."""
import numpy as np
import pytest

from processing.scene import Instance, Primitive
from processing.surface_error import (
    SurfaceReference,
    distinct_faces,
    sample_surface,
    spatially_sorted,
    world_triangles,
)

from .inputs import sphere


def grid(n: int, height: float = 0.0) -> Primitive:
    """A flat unit square in the XZ plane at y = `height`, as n x n quads."""
    xs = np.linspace(0.0, 1.0, n + 1)
    x, z = np.meshgrid(xs, xs)
    positions = np.stack([x.ravel(), np.full(x.size, height), z.ravel()], axis=1).astype(np.float32)
    a = (np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]).ravel()
    faces = np.concatenate([np.stack([a, a + n + 1, a + 1], 1), np.stack([a + 1, a + n + 1, a + n + 2], 1)])
    return Primitive(positions, faces.astype(np.uint32), 0)


def placed(prim: Primitive, matrix=None) -> list[tuple[Instance, Primitive]]:
    return [(Instance("part", 0, np.eye(4) if matrix is None else matrix), prim)]


def test_a_surface_has_no_error_against_itself():
    mesh = sphere(3)
    prim = Primitive(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32), 0)
    error = SurfaceReference(placed(prim), 2000).error_to(world_triangles(placed(prim)))
    assert error["hausdorff"] < 1e-6 and error["mean"] < 1e-6 and error["samples"] == 2000


def test_a_parallel_offset_is_measured_exactly_against_the_original_diagonal():
    flat = grid(8)
    raised = grid(3, height=0.01)  # coarser and 1 cm above: every point is exactly 1 cm away
    error = SurfaceReference(placed(flat), 3000).error_to(world_triangles(placed(raised)))
    diagonal = np.sqrt(2.0)  # the flat square's bounding box
    assert abs(error["hausdorff"] - 0.01 / diagonal) < 1e-6
    assert abs(error["mean"] - 0.01 / diagonal) < 1e-6


def test_placements_are_applied_before_measuring():
    matrix = np.eye(4)
    matrix[1, 3] = 0.02
    error = SurfaceReference(placed(grid(4)), 1000).error_to(world_triangles(placed(grid(4), matrix)))
    assert abs(error["hausdorff"] - 0.02 / np.sqrt(2.0)) < 1e-6


def test_repeated_faces_are_kept_once_whatever_their_corner_order():
    faces = np.array([[0, 1, 2], [2, 0, 1], [1, 0, 2], [0, 1, 3], [3, 1, 0]], dtype=np.uint32)
    np.testing.assert_array_equal(distinct_faces(faces), [[0, 1, 2], [0, 1, 3]])
    unique = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32)
    assert distinct_faces(unique) is unique


def test_distances_agree_with_libigl_the_benchmarks_oracle():
    """../shared/bench/quality.py measures with libigl (float64 AABB tree); ours with fcpw (float32
    BVH about the original's centre). Same samples, so the figures must agree closely."""
    import igl

    original = sphere(4)
    coarse = sphere(1)
    matrix = np.eye(4)
    matrix[:3, 3] = (3.0, -1.0, 2.0)  # away from the origin, where float32 would lose digits
    prim_a = Primitive(original.vertices.astype(np.float32), original.faces.astype(np.uint32), 0)
    prim_b = Primitive(coarse.vertices.astype(np.float32), coarse.faces.astype(np.uint32), 0)
    reference = SurfaceReference(placed(prim_a, matrix), 4000)
    vb, fb = world_triangles(placed(prim_b, matrix))
    ours = reference.error_to((vb, fb))
    pb = sample_surface(vb, fb, 4000, 1)
    dab = np.sqrt(igl.point_mesh_squared_distance(reference.points, vb, fb)[0])
    dba = np.sqrt(igl.point_mesh_squared_distance(pb, reference.vertices, reference.faces)[0])
    hausdorff = max(dab.max(), dba.max()) / reference.diagonal
    mean = (dab.mean() + dba.mean()) / 2 / reference.diagonal
    assert ours["hausdorff"] == pytest.approx(hausdorff, rel=1e-4)
    assert ours["mean"] == pytest.approx(mean, rel=1e-4)


def test_points_are_reordered_along_a_curve_and_nothing_else():
    points = np.random.default_rng(3).random((5000, 3)) * (2.0, 1.0, 0.5)
    ordered = spatially_sorted(points)
    assert sorted(map(tuple, ordered)) == sorted(map(tuple, points))  # the same points
    step = np.linalg.norm(np.diff(ordered, axis=0), axis=1).mean()
    assert step < np.linalg.norm(np.diff(points, axis=0), axis=1).mean() / 5  # neighbours follow each other
