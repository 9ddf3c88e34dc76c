"""export_web_glb: the compressed flavour decodes (with the decoder the browser runs) to valid data
at the same size as the AR flavour, and is much smaller."""
import io
import json
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial import cKDTree

from processing.export_web_glb import POSITION_BITS, WebGlbWriter, texel_bits
from processing.scene import Instance, Material, Mesh, Primitive, Scene, Texture
from processing.settings import Settings
from processing.validate import measure_glb
from processing.web_textures import WebTextures

from ..oracles import ROOT, assert_valid_glb, khronos_validate
from .conftest import box_primitive, encoded_texture, gradient_image, quad_primitive, single_mesh_scene
from .inputs import binary_stl, checker_png, sphere, textured_obj_zip
from .test_ktx2 import KTX2_IDENTIFIER
from .test_pipeline import converted


def gltf_json(path: Path) -> dict:
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20:20 + length])


def decoded(path: Path) -> Path:
    out = path.with_suffix(".decoded.glb")
    subprocess.run(["node", str(ROOT / "tests" / "decode_web_glb.mjs"), str(path), str(out)],
                   check=True, cwd=ROOT, timeout=120)
    return out


def world_size(gltf: dict) -> np.ndarray:
    """World bounding box from the quantised POSITION bounds and each node's TRS."""
    corners = []
    for node in gltf["nodes"]:
        accessor = gltf["accessors"][gltf["meshes"][node["mesh"]]["primitives"][0]["attributes"]["POSITION"]]
        low, high = np.array(accessor["min"], float), np.array(accessor["max"], float)
        box = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
        matrix = node_matrix(node)
        corners.append(box @ matrix[:3, :3].T + matrix[:3, 3])
    points = np.vstack(corners)
    return points.max(axis=0) - points.min(axis=0)


def test_web_flavour_decodes_to_valid_data_at_the_same_size(tmp_path):
    conv = converted(tmp_path, textured_obj_zip(size=(2.0, 1.0, 0.8)), Settings(unit="m"))
    web, ar = conv.outputs["glb_web"], conv.outputs["glb"]
    gltf = gltf_json(web)
    assert set(gltf["extensionsRequired"]) == {"EXT_meshopt_compression", "KHR_mesh_quantization", "EXT_texture_webp",
                                               "KHR_texture_transform"}
    assert gltf["images"][0]["mimeType"] == "image/webp"
    assert khronos_validate(web)[0]["numErrors"] == 0
    plain = decoded(web)
    verdict = khronos_validate(plain)[0]
    assert verdict["numErrors"] == 0, verdict  # accessor bounds must match the decoded data exactly
    step = 2.0 / (2 ** POSITION_BITS - 1)
    np.testing.assert_allclose(world_size(gltf_json(plain)), measure_glb(ar)[0], atol=2 * step)


def test_web_flavour_is_much_smaller(tmp_path):
    conv = converted(tmp_path, binary_stl(sphere(5)), Settings(unit="m"))
    assert conv.outputs["glb_web"].stat().st_size < 0.4 * conv.outputs["glb"].stat().st_size
    assert khronos_validate(decoded(conv.outputs["glb_web"]))[0]["numErrors"] == 0


# Measured over 200,000 random unit vectors through meshopt's octahedral filter at 8 bits and the
# decoder's rounding to int8: at most 1.21° (gltfpack's default normals are the same).
OCTAHEDRAL_MAX_DEGREES = 1.25


def glb_parts(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20:20 + length]), data[20 + length + 8:]


def accessor_rows(gltf: dict, binary: bytes, index: int) -> np.ndarray:
    """An accessor of a plain (decoded) GLB as rows, honouring the view's byte stride."""
    accessor = gltf["accessors"][index]
    view = gltf["bufferViews"][accessor["bufferView"]]
    dtype = np.dtype({5120: np.int8, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32,
                      5126: np.float32}[accessor["componentType"]])
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[accessor["type"]]
    stride = view.get("byteStride", width * dtype.itemsize)
    raw = np.frombuffer(binary, np.uint8, accessor["count"] * stride, view.get("byteOffset", 0))
    return raw.reshape(-1, stride)[:, :width * dtype.itemsize].copy().view(dtype)


def node_matrix(node: dict) -> np.ndarray:
    x, y, z, w = node.get("rotation", (0, 0, 0, 1))
    matrix = np.eye(4)
    rotation = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                         [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                         [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    matrix[:3, :3] = rotation * node.get("scale", (1, 1, 1))
    matrix[:3, 3] = node.get("translation", (0, 0, 0))
    return matrix


def decoded_primitives(web: Path) -> list[dict]:
    """Every primitive of the single-node `web` file as the browser's decoder hands it over:
    world positions, unit normals, UVs after the material's KHR_texture_transform, faces."""
    gltf, binary = glb_parts(decoded(web))
    node = gltf["nodes"][0]
    out = []
    for prim in gltf["meshes"][node["mesh"]]["primitives"]:
        attributes = prim["attributes"]
        grid = accessor_rows(gltf, binary, attributes["POSITION"]).astype(np.float64)
        normals = None
        if "NORMAL" in attributes:  # flat-shaded parts have none
            normals = accessor_rows(gltf, binary, attributes["NORMAL"]).astype(np.float64) / 127
            normals /= np.linalg.norm(normals, axis=1)[:, None]
        row = {"material": prim["material"], "positions": grid @ node_matrix(node)[:3, :3].T + node_matrix(node)[:3, 3],
               "normals": normals,
               "faces": accessor_rows(gltf, binary, prim["indices"]).reshape(-1, 3).astype(np.int64), "uvs": None}
        if "TEXCOORD_0" in attributes:
            uvs = accessor_rows(gltf, binary, attributes["TEXCOORD_0"])
            uvs = uvs.astype(np.float64) / 65535 if uvs.dtype == np.uint16 else uvs.astype(np.float64)
            info = gltf["materials"][prim["material"]]["pbrMetallicRoughness"]["baseColorTexture"]
            transform = info.get("extensions", {}).get("KHR_texture_transform", {"offset": [0, 0], "scale": [1, 1]})
            row["uvs"] = uvs * transform["scale"] + transform["offset"]
        out.append(row)
    return out


def written(tmp_path: Path, scene) -> Path:
    path = tmp_path / "model.web.glb"
    path.write_bytes(WebGlbWriter(scene).to_bytes())
    assert_valid_glb(path)
    return path


def canonical(faces: np.ndarray) -> set[tuple[int, ...]]:
    """Triangles as tuples rotated to start at their smallest index (winding kept)."""
    return {tuple(np.roll(f, -int(np.argmin(f)))) for f in faces.tolist()}


def grid_primitive(x: float, material: int, uv_low: float, uv_high: float, seed: int) -> Primitive:
    """A wavy 2 x 1 m sheet of 9 x 9 distinct vertices at `x`, random unit normals (every octant)
    and UVs spanning [uv_low, uv_high]."""
    u, v = np.meshgrid(np.linspace(0, 1, 9), np.linspace(0, 1, 9))
    positions = np.stack([x + 2 * u, v, 0.1 * np.sin(6 * u + 3 * v)], axis=-1).reshape(-1, 3)
    normals = np.random.default_rng(seed).normal(size=positions.shape)
    cells = np.array([[r * 9 + c, r * 9 + c + 1, r * 9 + c + 10, r * 9 + c, r * 9 + c + 10, r * 9 + c + 9]
                      for r in range(8) for c in range(8)]).reshape(-1, 3)
    return Primitive(positions.astype(np.float32), cells.astype(np.uint32), material,
                     (normals / np.linalg.norm(normals, axis=1)[:, None]).astype(np.float32),
                     (uv_low + (uv_high - uv_low) * np.stack([u, v], axis=-1).reshape(-1, 2)).astype(np.float32))


def test_decoded_vertices_match_the_scene_within_quantisation_error(tmp_path):
    scene = single_mesh_scene(
        [grid_primitive(0.0, 0, 0.0, 1.0, 1), grid_primitive(2.5, 1, -2.0, 3.0, 2),
         grid_primitive(5.0, 2, 0.0, 1.0, 3), grid_primitive(7.5, 3, 0.0, 300.0, 4),
         grid_primitive(10.0, 4, 0.0, 1000.0, 5)],
        [Material("photo", base_color_texture=0), Material("tiled", base_color_texture=1),
         Material("plain"), Material("stretched", base_color_texture=0), Material("smeared", base_color_texture=0)],
        [encoded_texture("photo.jpg", gradient_image(64), "JPEG"), encoded_texture("tile.png", gradient_image())])
    web = written(tmp_path, scene)
    gltf = gltf_json(web)
    assert "KHR_texture_transform" in gltf["extensionsRequired"]
    step = 12.0 / (2 ** POSITION_BITS - 1)  # the mesh's longest extent over the 14-bit grid
    # UV steps: 8 bits per UV unit for these small textures ([0, 1] → 8 bits, [-2, 3] → 11 bits);
    # 300 units need 17 bits for half a texel, so they get 16 (a step under one texel); 1000 → float.
    uv_tolerance = {0: 0.5 / 255, 1: 0.5 * 5 / 2047, 3: 0.5 * 300 / 65535, 4: 1e-6}
    for got in decoded_primitives(web):
        source = scene.meshes[0].primitives[got["material"]]
        distance, ids = cKDTree(source.positions).query(got["positions"])
        assert np.abs(got["positions"] - source.positions[ids]).max() <= step / 2 + 1e-6
        assert sorted(ids) == list(range(source.vertex_count))  # every vertex kept once
        angle = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", got["normals"], source.normals[ids]), -1, 1)))
        assert angle.max() <= OCTAHEDRAL_MAX_DEGREES
        assert canonical(ids[got["faces"]]) == canonical(source.faces)
        if got["material"] == 2:
            assert got["uvs"] is None  # untextured: nothing reads its UVs
        else:
            assert np.abs(got["uvs"] - source.uvs[ids]).max() <= uv_tolerance[got["material"]] + 1e-7


def test_a_uv_step_is_half_a_texel_of_the_materials_largest_texture():
    textures = [Texture("photo", Image.new("RGB", (2048, 1024))), Texture("detail", Image.new("RGB", (700, 700))),
                Texture("swatch", Image.new("RGB", (16, 16)))]
    scene = Scene(textures=textures)
    assert texel_bits(scene, Material(base_color_texture=0, normal_texture=1)) == 12  # 4096 steps per unit
    assert texel_bits(scene, Material(normal_texture=1)) == 11  # 1400 steps: 2048
    assert texel_bits(scene, Material(base_color_texture=2)) == 8  # never fewer than 256 steps


def test_vertices_identical_after_quantisation_merge_and_collapsed_triangles_go(tmp_path):
    u, v = np.meshgrid(np.linspace(0, 2, 5), np.linspace(0, 2, 5))
    grid = np.stack([u, v, np.zeros_like(u)], axis=-1).reshape(-1, 3)
    cells = np.array([[r * 5 + c, r * 5 + c + 1, r * 5 + c + 6, r * 5 + c, r * 5 + c + 6, r * 5 + c + 5]
                      for r in range(4) for c in range(4)]).reshape(-1, 3)
    # A triangle soup (3 vertices of its own per triangle, as STL gives), plus a sliver whose two
    # corners 1e-7 m apart fall on one grid point.
    soup = np.vstack([grid[cells.reshape(-1)], [[0, 0, 0], [1e-7, 0, 0], [0.5, 0.5, 0]]])
    prim = Primitive(soup.astype(np.float32), np.arange(len(soup), dtype=np.uint32).reshape(-1, 3), 0,
                     np.tile(np.float32([0, 0, 1]), (len(soup), 1)))
    (got,) = decoded_primitives(written(tmp_path, single_mesh_scene([prim], [Material("plain")])))
    assert len(got["positions"]) == 25
    assert len(got["faces"]) == 32
    _, ids = cKDTree(grid).query(got["positions"])
    assert canonical(ids[got["faces"]]) == canonical(cells)


def test_images_keep_their_source_encoding_unless_webp_is_smaller(tmp_path):
    checker = Image.open(io.BytesIO(checker_png())).convert("RGB")
    png = encoded_texture("checker.png", checker)
    photo = encoded_texture("photo.jpg", gradient_image(64), "JPEG")
    scene = single_mesh_scene([quad_primitive(0.0, 0), quad_primitive(1.0, 1)],
                              [Material("a", base_color_texture=0), Material("b", base_color_texture=1)], [photo, png])
    gltf, binary = glb_parts(written(tmp_path, scene))
    assert [image["mimeType"] for image in gltf["images"]] == ["image/webp", "image/png"]
    view = gltf["bufferViews"][gltf["images"][1]["bufferView"]]
    assert binary[view["byteOffset"]:view["byteOffset"] + view["byteLength"]] == png.encoded
    assert gltf["textures"][0]["extensions"]["EXT_texture_webp"]["source"] == 0
    assert gltf["textures"][1]["source"] == 1
    assert "EXT_texture_webp" in gltf["extensionsRequired"]
    only_png = single_mesh_scene([quad_primitive()], [Material("b", base_color_texture=0)], [png])
    assert "EXT_texture_webp" not in gltf_json(written(tmp_path, only_png))["extensionsUsed"]


def test_every_texture_slot_reads_the_dequantised_uvs(tmp_path, pbr_scene):
    gltf = gltf_json(written(tmp_path, pbr_scene))
    (material,) = gltf["materials"]
    pbr = material["pbrMetallicRoughness"]
    infos = [pbr["baseColorTexture"], pbr["metallicRoughnessTexture"],
             material["normalTexture"], material["occlusionTexture"], material["emissiveTexture"]]
    transforms = [info["extensions"]["KHR_texture_transform"] for info in infos]
    assert transforms[0]["scale"] == pytest.approx([65535 / 255] * 2)  # UVs [0, 1], 16 px textures: 8 bits
    assert all(t == transforms[0] for t in transforms)


def test_ktx2_textures_are_basisu_images_every_slot_reads(tmp_path, pbr_scene):
    path = tmp_path / "model.web.glb"
    with WebTextures(pbr_scene, "ktx2", tmp_path) as textures:
        path.write_bytes(WebGlbWriter(pbr_scene, textures).to_bytes())
    assert_valid_glb(path)
    gltf, binary = glb_parts(path)
    assert "KHR_texture_basisu" in gltf["extensionsRequired"]
    assert [image["mimeType"] for image in gltf["images"]] == ["image/ktx2"] * 3
    assert [t["extensions"]["KHR_texture_basisu"]["source"] for t in gltf["textures"]] == [0, 1, 2]
    assert all("source" not in t for t in gltf["textures"])  # no fallback: this file is for the inline view
    for image in gltf["images"]:
        view = gltf["bufferViews"][image["bufferView"]]
        assert binary[view.get("byteOffset", 0):][:12] == KTX2_IDENTIFIER


def test_a_mesh_that_collapses_on_the_grid_still_draws(tmp_path):
    # Its only triangle has two corners in one grid cell: dropping it would leave a mesh of nothing.
    sliver = Primitive(np.float32([[0, 0, 0], [1e-7, 0, 0], [1, 0, 0]]), np.uint32([[0, 1, 2]]), 0,
                       np.tile(np.float32([0, 1, 0]), (3, 1)))
    gltf = gltf_json(written(tmp_path, single_mesh_scene([sliver], [Material("plain")])))
    (prim,) = gltf["meshes"][0]["primitives"]
    assert gltf["accessors"][prim["indices"]]["count"] == 3


def test_small_parts_share_the_products_grid_step(tmp_path, instanced_scene):
    # A 2 m table top and a 5 cm knob: the knob gets the product's 0.12 mm step, not 3 µm.
    scene = Scene(meshes=[Mesh("top", [box_primitive((2.0, 0.05, 1.0))]), Mesh("knob", [box_primitive((0.05,) * 3)])],
                  instances=[Instance("top", 0, np.eye(4)), Instance("knob", 1, np.eye(4))],
                  materials=[Material("oak")])
    levels = 2 ** POSITION_BITS - 1
    top, knob = gltf_json(written(tmp_path, scene))["nodes"]
    assert top["scale"] == pytest.approx([2.0 / levels] * 3) and knob["scale"] == pytest.approx([2.0 / levels] * 3)
    # A mesh placed 1.5x larger gets a grid 1.5x finer, so every placement shows the same step.
    low, high = instanced_scene.bounds()
    steps = [max(abs(s) for s in node["scale"]) for node in gltf_json(written(tmp_path, instanced_scene))["nodes"]]
    assert steps[1] == pytest.approx((high - low).max() / levels)
    assert all(s <= steps[1] * (1 + 1e-9) for s in steps)


def test_a_part_flat_in_places_is_split_into_a_flat_primitive_without_normals_and_a_smooth_one(tmp_path):
    import trimesh

    panel = trimesh.creation.box((1.0, 0.5, 0.04))
    for _ in range(3):
        panel = panel.subdivide()  # 768 flat triangles, their corners shared by many of them
    knob = trimesh.creation.icosphere(1, radius=0.05)
    knob.apply_translation((0.0, 0.0, 0.08))
    part = trimesh.util.concatenate([panel, knob])  # one STL: one part, one material
    conv = converted(tmp_path, binary_stl(part), Settings(unit="m"))
    flat, smooth = sorted(decoded_primitives(conv.outputs["glb_web"]), key=lambda p: p["normals"] is not None)
    assert flat["normals"] is None and len(flat["faces"]) == len(panel.faces)
    assert len(flat["positions"]) == len(np.unique(panel.vertices.round(6), axis=0))  # merged across the edges
    assert smooth["normals"] is not None and len(smooth["faces"]) == len(knob.faces)
    assert flat["material"] == smooth["material"]
    web = next(s for s in conv.report.as_dict()["steps"] if s["name"] == "export_web_glb")
    assert f"normals of {len(panel.faces)} flat-shaded triangles: viewers compute the same face normals" in web["details"]["dropped"]
    assert khronos_validate(decoded(conv.outputs["glb_web"]))[0]["numErrors"] == 0


def test_a_part_with_few_flat_triangles_stays_one_primitive(tmp_path):
    import trimesh

    box = trimesh.creation.box((0.1, 0.1, 0.1))  # 12 flat triangles beside 1280 smooth ones: no gain
    ball = trimesh.creation.icosphere(3, radius=0.3)
    conv = converted(tmp_path, binary_stl(trimesh.util.concatenate([box, ball])), Settings(unit="m"))
    (got,) = decoded_primitives(conv.outputs["glb_web"])
    assert got["normals"] is not None and len(got["faces"]) == len(box.faces) + len(ball.faces)


def test_flat_shaded_parts_go_without_normals_and_smooth_ones_keep_them(tmp_path):
    import trimesh

    (tmp_path / "box").mkdir()
    (tmp_path / "ball").mkdir()
    box = converted(tmp_path / "box", binary_stl(trimesh.creation.box((1.0, 0.5, 0.4))), Settings(unit="m"))
    (got,) = decoded_primitives(box.outputs["glb_web"])
    assert got["normals"] is None  # every corner of a box is a crease: viewers draw the same flat faces
    assert len(got["positions"]) == 8 and len(got["faces"]) == 12  # corners merged across the creases
    web = next(s for s in box.report.as_dict()["steps"] if s["name"] == "export_web_glb")
    assert "normals of 12 flat-shaded triangles: viewers compute the same face normals" in web["details"]["dropped"]
    assert khronos_validate(decoded(box.outputs["glb_web"]))[0]["numErrors"] == 0
    ball = converted(tmp_path / "ball", binary_stl(sphere(3)), Settings(unit="m"))
    (got,) = decoded_primitives(ball.outputs["glb_web"])
    assert got["normals"] is not None and len(got["normals"]) == len(got["positions"])
