"""scene: world bounds, whatever the placement."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from processing.scene import Instance, Mesh, Primitive, Scene, transform_points


def axes_swapped_mirrored_scaled() -> np.ndarray:
    matrix = np.zeros((4, 4))
    matrix[0, 2], matrix[1, 0], matrix[2, 1], matrix[3, 3] = -0.001, 0.025, 3.0, 1.0  # z->x mirrored, ...
    matrix[:3, 3] = (0.5, -2.0, 7.25)
    return matrix


def rotated() -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_euler("xyz", (20, 35, -50), degrees=True).as_matrix() * 1.5
    matrix[:3, 3] = (1.0, 2.0, 3.0)
    return matrix


@pytest.mark.parametrize("matrix", [np.eye(4), axes_swapped_mirrored_scaled(), rotated()])
def test_bounds_equal_those_of_every_placed_point(matrix):
    points = np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32) * (3.0, 0.2, 40.0)
    prim = Primitive(points, np.arange(498, dtype=np.uint32).reshape(-1, 3), 0)
    scene = Scene(meshes=[Mesh("part", [prim])], instances=[Instance("a", 0, matrix)])
    world = transform_points(points, matrix)
    low, high = scene.bounds()
    np.testing.assert_array_equal(low, world.min(axis=0))
    np.testing.assert_array_equal(high, world.max(axis=0))


def test_a_renumbered_primitive_carries_every_attribute_and_drops_unused_vertices():
    prim = Primitive(positions=np.arange(12, dtype=np.float32).reshape(4, 3), faces=np.array([[3, 1, 2]], np.uint32),
                     material=2, normals=np.eye(4, 3, dtype=np.float32), uvs=np.arange(8, dtype=np.float32).reshape(4, 2))
    remap = np.array([0xFFFFFFFF, 1, 2, 0], dtype=np.uint32)  # vertex 0 unused; 3 comes first
    out = prim.renumbered(remap, 3)
    assert out.faces.tolist() == [[0, 1, 2]] and out.faces.dtype == np.uint32 and out.material == 2
    assert np.array_equal(out.positions, prim.positions[[3, 1, 2]])
    assert np.array_equal(out.normals, prim.normals[[3, 1, 2]]) and np.array_equal(out.uvs, prim.uvs[[3, 1, 2]])
