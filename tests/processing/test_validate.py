"""validate: our own GLB checks catch what the Khronos validator would reject."""
import numpy as np

from processing.export_glb import write_glb
from processing.normals import with_crease_normals
from processing.scene import Instance, Material, Mesh, Primitive, Scene
from processing.validate import check_glb_structure, measure_glb

from ..oracles import khronos_validate


def triangle_scene(normals) -> Scene:
    prim = Primitive(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32), np.array([[0, 1, 2]], np.uint32), 0,
                     normals=np.asarray(normals, np.float32))
    return Scene(meshes=[Mesh("t", [prim])], instances=[Instance("t", 0, np.eye(4))], materials=[Material()])


def test_zero_normals_are_caught_like_the_khronos_validator_does(tmp_path):
    write_glb(triangle_scene(np.zeros((3, 3))), tmp_path / "bad.glb")
    assert any("unit length" in p for p in check_glb_structure(tmp_path / "bad.glb"))
    assert "ACCESSOR_VECTOR3_NON_UNIT" in khronos_validate(tmp_path / "bad.glb")[0]["errors"]
    write_glb(triangle_scene(np.tile([0, 0, 1], (3, 1))), tmp_path / "good.glb")
    assert check_glb_structure(tmp_path / "good.glb") == []


def test_truncated_glb_is_caught(tmp_path):
    write_glb(triangle_scene(np.tile([0, 0, 1], (3, 1))), tmp_path / "t.glb")
    (tmp_path / "cut.glb").write_bytes((tmp_path / "t.glb").read_bytes()[:-8])
    assert check_glb_structure(tmp_path / "cut.glb")


def test_sliver_faces_still_get_unit_normals():
    positions = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]], np.float32)  # 0-1-2 has no area
    prim = with_crease_normals(Primitive(positions, np.array([[0, 1, 2], [0, 1, 3]], np.uint32), 0), 40)
    np.testing.assert_allclose(np.linalg.norm(prim.normals, axis=1), 1.0, rtol=1e-5)


def test_measure_reads_size_and_triangles_back(tmp_path):
    write_glb(triangle_scene(np.tile([0, 0, 1], (3, 1))), tmp_path / "t.glb")
    size, triangles = measure_glb(tmp_path / "t.glb")
    np.testing.assert_allclose(size, (1, 1, 0))
    assert triangles == 1


def test_measure_follows_each_placement_through_its_node(tmp_path):
    scene = triangle_scene(np.tile([0, 0, 1], (3, 1)))
    turned = np.array([[0, -2, 0, 5], [2, 0, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]], dtype=np.float64)  # 90° about z, x2
    scene.instances.append(Instance("turned", 0, turned))
    write_glb(scene, tmp_path / "t.glb")
    size, triangles = measure_glb(tmp_path / "t.glb")
    np.testing.assert_allclose(size, (5, 2, 0), atol=1e-6)  # (1, 0, 0) -> (5, 2, 0), (0, 1, 0) -> (3, 0, 0)
    assert triangles == 2
