"""export_glb: what we write reads back the same, and the Khronos validator finds no error."""
import numpy as np
import pytest
import trimesh

from processing.export_glb import decompose, write_glb
from processing.scene import Instance, Material, Mesh, Primitive, Scene, Texture

from ..oracles import assert_valid_glb
from .inputs import sphere


def rotation_y(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    m = np.eye(4)
    m[[0, 0, 2, 2], [0, 2, 0, 2]] = [np.cos(a), np.sin(a), -np.sin(a), np.cos(a)]
    return m


def scene_of(prim: Primitive, matrices, materials=None, textures=()) -> Scene:
    return Scene(meshes=[Mesh("m", [prim])], instances=[Instance(f"n{i}", 0, m) for i, m in enumerate(matrices)],
                 materials=materials or [Material()], textures=list(textures))


def ball(subdivisions=2) -> Primitive:
    mesh = sphere(subdivisions)
    return Primitive(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32), 0,
                     normals=mesh.vertex_normals.astype(np.float32),
                     uvs=(mesh.vertices[:, :2] * 0.5 + 0.5).astype(np.float32))


def world_points(path) -> np.ndarray:
    loaded = trimesh.load(str(path), force="scene", process=False)
    return np.vstack([trimesh.transform_points(loaded.geometry[g].vertices, m)
                      for m, g in (loaded.graph[n] for n in loaded.graph.nodes_geometry)])


def test_instances_round_trip_with_their_transforms(tmp_path):
    moved = rotation_y(30) @ np.diag([2.0, 1.0, 1.0, 1.0])
    moved[:3, 3] = (3, 0, -1)
    scene = scene_of(ball(), [np.eye(4), moved])
    write_glb(scene, tmp_path / "m.glb")
    from processing.scene import transform_points
    expected = np.vstack([transform_points(scene.meshes[0].primitives[0].positions, m) for m in (np.eye(4), moved)])
    got = world_points(tmp_path / "m.glb")
    np.testing.assert_allclose(np.sort(got, axis=0), np.sort(expected, axis=0), atol=1e-5)
    assert_valid_glb(tmp_path / "m.glb")


def test_shearing_matrix_is_baked_not_written_as_trs(tmp_path):
    shear = rotation_y(45) @ np.diag([3.0, 1.0, 1.0, 1.0]) @ rotation_y(-20)
    assert decompose(shear) is None
    write_glb(scene_of(ball(1), [shear]), tmp_path / "s.glb")
    assert_valid_glb(tmp_path / "s.glb")
    from processing.scene import transform_points
    np.testing.assert_allclose(np.sort(world_points(tmp_path / "s.glb"), axis=0),
                               np.sort(transform_points(ball(1).positions, shear), axis=0), atol=1e-5)


def test_mirrored_instance_decomposes_with_negative_scale():
    t, r, s = decompose(np.diag([-1.0, 1.0, 1.0, 1.0]))
    assert np.prod(s) < 0


def test_large_meshes_use_32_bit_indices(tmp_path):
    write_glb(scene_of(ball(7), [np.eye(4)]), tmp_path / "big.glb")  # 163,842 vertices
    assert_valid_glb(tmp_path / "big.glb")


def test_every_material_feature_is_valid(tmp_path):
    from PIL import Image
    import io
    def tex(name, mode="RGB"):
        buffer = io.BytesIO()
        Image.new(mode, (8, 8), (120, 60, 30, 128)[:len(mode)]).save(buffer, "PNG")
        return Texture(name, Image.new(mode, (8, 8)), buffer.getvalue(), "image/png")
    material = Material(name="all", base_color_factor=(0.5, 0.5, 0.5, 0.5), base_color_texture=0,
                        metallic_roughness_texture=1, normal_texture=2, normal_scale=0.7, occlusion_texture=1,
                        emissive_texture=3, emissive_factor=(1, 0.5, 0), alpha_mode="MASK", alpha_cutoff=0.3,
                        double_sided=True)
    write_glb(scene_of(ball(), [np.eye(4)], [material], [tex("c", "RGBA"), tex("mr"), tex("n"), tex("e")]), tmp_path / "f.glb")
    assert_valid_glb(tmp_path / "f.glb")
