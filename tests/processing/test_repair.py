"""repair and normals: welding, degenerate data, and normals only where missing."""
from types import SimpleNamespace

import numpy as np

from processing import repair
from processing.normals import with_crease_normals
from processing.repair import drop_degenerate, unit_normals, weld
from processing.scene import Instance, Mesh, Primitive, Scene
from processing.settings import Settings

from .inputs import sphere


def soup(mesh) -> Primitive:
    """Every triangle with its own three vertices, as STL stores them."""
    positions = mesh.vertices[mesh.faces].reshape(-1, 3).astype(np.float32)
    return Primitive(positions, np.arange(len(positions), dtype=np.uint32).reshape(-1, 3), 0)


def test_weld_merges_exact_duplicates_only():
    welded = weld(soup(sphere(2)))
    assert welded.vertex_count == len(sphere(2).vertices)
    assert welded.triangle_count == len(sphere(2).faces)


def test_weld_keeps_uv_seams():
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=np.float32)
    uvs = np.array([[0, 0], [1, 0], [0, 1], [0.5, 0]], dtype=np.float32)  # vertex 1 and 3: same place, other UV
    prim = Primitive(positions, np.array([[0, 1, 2], [0, 3, 2]], dtype=np.uint32), 0, uvs=uvs)
    assert weld(prim).vertex_count == 4


def test_degenerate_faces_and_unused_vertices_are_dropped():
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [9, 9, 9]], dtype=np.float32)
    faces = np.array([[0, 1, 2], [0, 0, 1], [0, 1, 3]], dtype=np.uint32)  # repeated index; collinear
    cleaned = drop_degenerate(Primitive(positions, faces, 0))
    assert cleaned.triangle_count == 1 and cleaned.vertex_count == 3


def test_squared_areas_match_the_cross_product_and_are_zero_only_without_area():
    rng = np.random.default_rng(7)
    positions = rng.normal(size=(40, 3)).astype(np.float32)
    positions[30:] = positions[:10] * 1e-20  # tiny but not degenerate: must not round to zero
    faces = rng.integers(0, 40, size=(200, 3)).astype(np.uint32)
    faces[:5, 2] = faces[:5, 1]  # a repeated corner
    positions[37:] = [[0, 0, 0], [1, 1, 1], [2, 2, 2]]  # on one line, exactly
    faces[5] = (37, 38, 39)
    cross = repair.face_cross(positions, faces)
    squared = repair.doubled_area_squared(positions, faces)
    np.testing.assert_allclose(squared, np.einsum("ij,ij->i", cross, cross), rtol=1e-12)
    assert np.array_equal(squared == 0, (cross == 0).all(axis=1))
    assert (squared[:6] == 0).all() and (squared[6:] > 0).sum() > 150


def test_repair_keeps_zero_area_faces_of_distinct_corners_for_the_simplifier():
    """A pole: vertices 1 and 3 share a position but not a UV, and the zero-area face (0, 1, 3) is
    what joins them; a face with a repeated corner joins nothing and goes."""
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [9, 9, 9]], dtype=np.float32)
    uvs = np.array([[0, 0], [0, 1], [1, 1], [1, 1], [0, 0]], dtype=np.float32)
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 0, 2]], dtype=np.uint32)
    conv = SimpleNamespace(scene=Scene(meshes=[Mesh("pole", [Primitive(positions, faces, 0, uvs=uvs)])],
                                       instances=[Instance("pole", 0, np.eye(4))]))
    repair.run(conv, Settings())
    kept = conv.scene.meshes[0].primitives[0]
    assert kept.triangle_count == 2 and kept.vertex_count == 4  # (0, 0, 2) and the unused vertex 4 gone
    assert drop_degenerate(kept).triangle_count == 1  # what decimation's tidy leaves in the published file


def test_broken_normals_are_replaced_and_unit_length():
    mesh = sphere(1)
    prim = Primitive(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32), 0)
    normals = mesh.vertex_normals * 3.0
    normals[0] = (0, 0, 0)
    normals[1] = (np.nan, 0, 0)
    fixed = unit_normals(normals, prim)
    np.testing.assert_allclose(np.linalg.norm(fixed, axis=1), 1.0, rtol=1e-5)


def test_crease_normals_are_flat_on_a_box_and_smooth_on_a_sphere():
    import trimesh
    box = trimesh.creation.box()
    flat = with_crease_normals(Primitive(box.vertices.astype(np.float32), box.faces.astype(np.uint32), 0), 40)
    face_normals = np.repeat(box.face_normals, 3, axis=0)
    corner_normals = flat.normals[flat.faces.reshape(-1)]
    np.testing.assert_allclose(corner_normals, face_normals, atol=1e-5)
    ball = sphere(3)
    smooth = with_crease_normals(Primitive(ball.vertices.astype(np.float32), ball.faces.astype(np.uint32), 0), 40)
    assert smooth.vertex_count == len(ball.vertices)  # no splits on a smooth surface
    radial = smooth.positions / np.linalg.norm(smooth.positions, axis=1)[:, None]
    assert np.einsum("ij,ij->i", radial, smooth.normals).min() > 0.99


def test_a_curved_side_stays_smooth_where_it_meets_a_sharp_edge():
    """A cylinder: every corner of its side is at the sharp rim, yet the side must shade round (one
    radial normal per rim vertex), not as flat facets; the caps stay flat."""
    import trimesh
    sections = 24
    can = trimesh.creation.cylinder(radius=0.5, height=1.0, sections=sections)
    got = with_crease_normals(Primitive(can.vertices.astype(np.float32), can.faces.astype(np.uint32), 0), 40)
    corner_normals = got.normals[got.faces.reshape(-1)].astype(np.float64)
    corner_positions = got.positions[got.faces.reshape(-1)].astype(np.float64)
    side = np.repeat(np.abs(can.face_normals[:, 2]) < 0.5, 3)
    radial = corner_positions[side] * (1, 1, 0)
    radial /= np.linalg.norm(radial, axis=1)[:, None]
    assert np.einsum("ij,ij->i", corner_normals[side], radial).min() > np.cos(np.radians(0.1))
    np.testing.assert_allclose(np.abs(corner_normals[~side][:, 2]), 1.0, atol=1e-6)
    assert got.vertex_count == 4 * sections + 2  # each rim vertex: one side normal, one cap normal


def test_crease_normals_are_the_same_when_computed_a_few_pairs_at_a_time(monkeypatch):
    """The pairwise pass runs in bounded chunks (a 5M-triangle budget must not need gigabytes)."""
    import trimesh
    from processing import normals
    can = trimesh.creation.cylinder(radius=0.5, height=1.0, sections=40)
    prim = Primitive(can.vertices.astype(np.float32), can.faces.astype(np.uint32), 0)
    whole = with_crease_normals(prim, 40)
    monkeypatch.setattr(normals, "PAIRS_AT_ONCE", 7)
    chunked = with_crease_normals(prim, 40)
    np.testing.assert_array_equal(chunked.normals, whole.normals)
    np.testing.assert_array_equal(chunked.faces, whole.faces)
