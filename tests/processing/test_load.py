"""load: what each format brings into the scene, and what is refused before parsing."""
import math

import numpy as np
import pytest

from processing import errors
from processing.errors import ConversionError
from processing.settings import Limits, Settings

from .inputs import binary_stl, box_obj, checker_png, make_zip, png_header, sphere, textured_glb, textured_obj_zip
from .steps import run_until


def failure(tmp_path, data, settings=Settings()):
    with pytest.raises(ConversionError) as caught:
        run_until(tmp_path, data, "load", settings)
    assert str(tmp_path) not in caught.value.message
    return caught.value


def test_obj_zip_keeps_uvs_material_and_texture(tmp_path):
    scene = run_until(tmp_path, textured_obj_zip(), "load").scene
    assert scene.triangle_count == 12
    material = scene.materials[scene.meshes[0].primitives[0].material]
    assert material.base_color_texture is not None
    assert scene.textures[material.base_color_texture].image.size == (64, 64)
    prim = scene.meshes[0].primitives[0]
    assert prim.uvs is not None and prim.uvs.min() >= 0 and prim.uvs.max() <= 1


def test_glb_keeps_texture_and_pbr_factors(tmp_path):
    scene = run_until(tmp_path, textured_glb(), "load").scene
    material = scene.materials[0]
    assert material.base_color_texture == 0
    assert math.isclose(material.roughness_factor, 0.6) and material.metallic_factor == 0.0


def test_glb_uvs_keep_gltf_orientation(tmp_path):
    glb = textured_glb()
    scene = run_until(tmp_path, glb, "load").scene
    prim = scene.meshes[0].primitives[0]
    low = prim.positions[:, [0, 2]].min(axis=0)
    expected = (prim.positions[:, [0, 2]] - low) / np.ptp(prim.positions[:, [0, 2]], axis=0)
    expected[:, 1] = 1.0 - expected[:, 1]  # trimesh takes v up (OpenGL) and writes glTF's v down
    np.testing.assert_allclose(prim.uvs, expected, atol=1e-6)


def test_stl_and_ply_load_as_plain_geometry(tmp_path):
    expected = len(sphere(2).faces)
    for name, data in (("stl", binary_stl(sphere(2))), ("ply", sphere(2).export(file_type="ply"))):
        (tmp_path / name).mkdir()
        assert run_until(tmp_path / name, data, "load").scene.triangle_count == expected


def test_texture_outside_the_upload_fails_the_job(tmp_path):
    data = make_zip({"box.obj": box_obj(), "box.mtl": "newmtl wood\nmap_Kd ../../../etc/secret.png\n"})
    assert failure(tmp_path, data).code == errors.REFERENCE_UNSAFE


def test_texture_by_url_fails_the_job_without_fetching(tmp_path):
    data = make_zip({"box.obj": box_obj(), "box.mtl": "newmtl wood\nmap_Kd http://127.0.0.1:9/t.png\n"})
    assert failure(tmp_path, data).code == errors.REFERENCE_UNSAFE


def test_missing_texture_is_a_warning_not_a_silent_success(tmp_path):
    data = make_zip({"box.obj": box_obj(), "box.mtl": "newmtl wood\nmap_Kd wood.png\n"})
    conv = run_until(tmp_path, data, "load")
    assert any("wood.png" in w for w in conv.report.warnings)


def test_texture_bomb_is_refused_from_its_header(tmp_path):
    data = textured_obj_zip(texture_name="t.png", extra={"t.png": png_header(100_000, 100_000)})
    assert failure(tmp_path, data).code == errors.TEXTURE_TOO_LARGE


def test_texture_bomb_embedded_in_a_glb_is_refused(tmp_path):
    glb = textured_glb(png=checker_png(512))
    assert failure(tmp_path, glb, Settings(limits=Limits(texture_pixels=256 * 256))).code == errors.TEXTURE_TOO_LARGE


def test_texture_in_another_format_is_refused(tmp_path):
    from io import BytesIO
    from PIL import Image
    buffer = BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "BMP")
    data = textured_obj_zip(texture_name="t.bmp", extra={"t.bmp": buffer.getvalue()})
    assert failure(tmp_path, data).code == errors.TEXTURE_UNSUPPORTED


def test_glb_whose_header_lies_about_its_length(tmp_path):
    glb = bytearray(textured_glb())
    glb[8:12] = (len(glb) + 1000).to_bytes(4, "little")
    assert failure(tmp_path, bytes(glb)).code == errors.CORRUPT_FILE


def test_glb_truncated(tmp_path):
    assert failure(tmp_path, textured_glb()[:200]).code == errors.CORRUPT_FILE


def test_gltf_1_is_refused(tmp_path):
    data = make_zip({"m.gltf": '{"asset": {"version": "1.0"}}'})
    assert failure(tmp_path, data).code == errors.UNSUPPORTED_FORMAT


def test_absurd_ply_header_is_refused_before_parsing(tmp_path):
    data = b"ply\nformat binary_little_endian 1.0\nelement vertex 9999999999\nproperty float x\nend_header\n"
    assert failure(tmp_path, data).code == errors.TOO_MANY_TRIANGLES


def test_input_triangle_limit(tmp_path):
    data = binary_stl(sphere(3))
    assert failure(tmp_path, data, Settings(limits=Limits(input_triangles=100))).code == errors.TOO_MANY_TRIANGLES


def test_nan_coordinates_are_refused(tmp_path):
    obj = "v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n"
    assert failure(tmp_path, obj.encode()).code == errors.CORRUPT_FILE


def test_points_only_is_no_geometry(tmp_path):
    obj = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"
    assert failure(tmp_path, obj.encode()).code == errors.NO_GEOMETRY


def test_mtl_texture_written_as_a_windows_path_is_found_inside_the_upload_by_name(tmp_path):
    data = make_zip({"box.obj": box_obj(), "box.mtl": "newmtl wood\nmap_Kd C:\\Users\\bob\\Maps\\wood.png\n",
                     "maps/wood.png": checker_png()})
    scene = run_until(tmp_path, data, "load").scene
    assert len(scene.textures) == 1


def test_gltf_uri_with_an_absolute_path_is_still_refused(tmp_path):
    gltf = ('{"asset": {"version": "2.0"}, "buffers": [{"uri": "/etc/passwd", "byteLength": 4}]}')
    assert failure(tmp_path, make_zip({"m.gltf": gltf, "passwd": b"1234"})).code == errors.REFERENCE_UNSAFE
