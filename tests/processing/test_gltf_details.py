"""gltf_details: texture transforms, wrap modes and material extensions survive trimesh's reader
and reach both outputs; what cannot be carried is reported. The GLBs here are written by hand
(trimesh cannot write these extensions), so nothing of ours produces the input."""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh
from pxr import Usd, UsdGeom, UsdShade

from processing import errors
from processing.errors import ConversionError
from processing.pipeline import convert
from processing.settings import Settings

from ..oracles import assert_valid_glb, assert_valid_usdz
from .inputs import checker_png
from .steps import run_until

CLAMP, MIRROR, REPEAT = 33071, 33648, 10497
TRANSFORM = {"offset": [0.25, 0.5], "scale": [2.0, 3.0], "rotation": 0.3}


def quad_glb(material: dict, *, sampler: dict | None = None, extensions_used=(), primitive_extra: dict | None = None,
             materials: list[dict] | None = None) -> bytes:
    """A 1 m quad facing +Z, UVs (x, 1 - y) over it, one PNG used by every texture slot."""
    positions = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32)
    normals = np.tile(np.array([0, 0, 1], dtype=np.float32), (4, 1))
    uvs = np.column_stack([positions[:, 0], 1 - positions[:, 1]]).astype(np.float32)
    indices = np.array([0, 1, 2, 0, 2, 3], dtype=np.uint16)
    image = checker_png(16)
    chunks = [positions.tobytes(), normals.tobytes(), uvs.tobytes(), indices.tobytes() + b"\0\0", image]
    views, offset = [], 0
    for chunk in chunks:
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(chunk)})
        offset += len(chunk) + (-len(chunk) % 4)
    binary = b"".join(c + b"\0" * (-len(c) % 4) for c in chunks)
    views[3]["byteLength"] = 12
    attributes = {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2}
    primitive = {"attributes": attributes, "indices": 3, "material": 0, **(primitive_extra or {})}
    gltf = {
        "asset": {"version": "2.0"},
        "extensionsUsed": list(extensions_used),
        "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0, "name": "panel"}],
        "meshes": [{"name": "panel", "primitives": [primitive]}],
        "materials": materials or [material],
        "textures": [{"source": 0, "sampler": 0}],
        "samplers": [sampler or {"wrapS": REPEAT, "wrapT": REPEAT}],
        "images": [{"bufferView": 4, "mimeType": "image/png"}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3", "min": [0, 0, 0], "max": [1, 1, 0]},
            {"bufferView": 1, "componentType": 5126, "count": 4, "type": "VEC3"},
            {"bufferView": 2, "componentType": 5126, "count": 4, "type": "VEC2"},
            {"bufferView": 3, "componentType": 5123, "count": 6, "type": "SCALAR"},
        ],
        "bufferViews": views,
        "buffers": [{"byteLength": len(binary)}],
    }
    if not gltf["extensionsUsed"]:
        del gltf["extensionsUsed"]
    text = json.dumps(gltf).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def transformed(info: dict, transform: dict = TRANSFORM) -> dict:
    return {**info, "extensions": {"KHR_texture_transform": transform}}


def expected_uv(uv: np.ndarray, transform: dict = TRANSFORM) -> np.ndarray:
    """KHR_texture_transform applied by the spec's formula, written out per component."""
    (ox, oy), (sx, sy), r = transform["offset"], transform["scale"], transform["rotation"]
    u, v = uv[:, 0] * sx, uv[:, 1] * sy
    return np.column_stack([math.cos(r) * u + math.sin(r) * v + ox, -math.sin(r) * u + math.cos(r) * v + oy])


def loaded(tmp_path: Path, data: bytes):
    return run_until(tmp_path, data, "load", name="model.glb")


def test_texture_transform_round_trips_through_glb_and_usdz(tmp_path):
    material = {
        "name": "veneer",
        "pbrMetallicRoughness": {"baseColorTexture": transformed({"index": 0})},
        "normalTexture": transformed({"index": 0}),
    }
    source = tmp_path / "upload.glb"
    source.write_bytes(quad_glb(material, extensions_used=["KHR_texture_transform"]))
    conv = convert(source, tmp_path / "out", Settings())
    assert not any("KHR_texture_transform" in w for w in conv.report.warnings), conv.report.warnings
    glb, usdz = conv.outputs["glb"], conv.outputs["usdz"]
    assert_valid_glb(glb)
    assert_valid_usdz(usdz)

    # The quad is centred on x and stands on the floor: its source UV was (x + 0.5, 1 - y).
    def source_uv(points: np.ndarray) -> np.ndarray:
        return np.column_stack([points[:, 0] + 0.5, 1 - points[:, 1]])

    scene = trimesh.load(str(glb), force="scene", process=False)
    (node,) = scene.graph.nodes_geometry
    matrix, name = scene.graph[node]
    geometry = scene.geometry[name]
    glb_uv = np.column_stack([geometry.visual.uv[:, 0], 1 - geometry.visual.uv[:, 1]])  # trimesh flips v
    world = trimesh.transform_points(geometry.vertices, matrix)
    np.testing.assert_allclose(glb_uv, expected_uv(source_uv(world)), atol=1e-5)
    assert "KHR_texture_transform" not in json.dumps(_glb_json(glb))

    stage = Usd.Stage.Open(str(usdz))
    (mesh,) = [UsdGeom.Mesh(p) for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]
    points = np.asarray(mesh.GetPointsAttr().Get(), dtype=np.float64)
    st = np.asarray(UsdGeom.PrimvarsAPI(mesh).GetPrimvar("st").Get())
    want = expected_uv(source_uv(points))
    np.testing.assert_allclose(st, np.column_stack([want[:, 0], 1 - want[:, 1]]), atol=1e-5)
    shader = UsdShade.Shader(stage.GetPrimAtPath("/Root/Materials/veneer/PreviewSurface"))
    assert shader.GetInput("normal").HasConnectedSource()


def _glb_json(path: Path) -> dict:
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20:20 + length])


def test_wrap_modes_reach_the_scene(tmp_path):
    material = {"name": "tiles", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}
    conv = loaded(tmp_path, quad_glb(material, sampler={"wrapS": CLAMP, "wrapT": MIRROR}))
    (tiles,) = conv.scene.materials
    assert tiles.texture_wrap == {"baseColorTexture": ("clamp", "mirror")}


def test_one_transform_per_material_and_a_second_uv_set_are_reported(tmp_path):
    material = {
        "name": "veneer",
        "pbrMetallicRoughness": {"baseColorTexture": transformed({"index": 0})},
        "normalTexture": transformed({"index": 0}, {"offset": [0, 0], "scale": [4, 4], "rotation": 0}),
        "occlusionTexture": {"index": 0, "texCoord": 1},
    }
    conv = loaded(tmp_path, quad_glb(material, extensions_used=["KHR_texture_transform"]))
    warnings = conv.report.warnings
    assert "glTF KHR_texture_transform: normalTexture of material 'veneer' differs from its baseColorTexture's; " \
           "one UV set carries only one, so it is mapped with baseColorTexture's" in warnings
    assert any("occlusionTexture of material 'veneer' reads UV set 1" in w for w in warnings)
    (prim,) = conv.scene.meshes[0].primitives
    np.testing.assert_allclose(prim.uvs, expected_uv(np.column_stack([[0, 1, 1, 0], [1, 1, 0, 0]])), atol=1e-6)


def test_material_extensions_are_kept_for_the_exporters(tmp_path):
    material = {
        "name": "fabric",
        "pbrMetallicRoughness": {"baseColorFactor": [0.5, 0.4, 0.3, 1.0]},
        "extensions": {"KHR_materials_sheen": {"sheenRoughnessFactor": 0.5}, "KHR_materials_ior": {"ior": 1.4}},
    }
    source = tmp_path / "upload.glb"
    source.write_bytes(quad_glb(material, extensions_used=["KHR_materials_sheen", "KHR_materials_ior"]))
    conv = convert(source, tmp_path / "out", Settings())
    assert conv.scene.materials[0].extensions == material["extensions"]
    assert "USDZ: sheen dropped from material 'fabric'" in conv.report.warnings
    stage = Usd.Stage.Open(str(conv.outputs["usdz"]))
    shader = UsdShade.Shader(stage.GetPrimAtPath("/Root/Materials/fabric/PreviewSurface"))
    assert shader.GetInput("ior").Get() == pytest.approx(1.4)


def test_morph_targets_and_vertex_colours_under_a_material_are_reported(tmp_path):
    material = {"name": "paint", "pbrMetallicRoughness": {"baseColorFactor": [1, 0, 0, 1]}}
    data = quad_glb(material, primitive_extra={"targets": [{"POSITION": 1}]})
    data = _with_colour(data)
    warnings = loaded(tmp_path, data).report.warnings
    assert "glTF morph targets of 'panel' dropped: it is shown in its base shape" in warnings
    assert "Vertex colours of 'panel' dropped (only material colours are carried)" in warnings


def _with_colour(data: bytes) -> bytes:
    """The same GLB with the normals accessor also used as COLOR_0 (RGB floats in 0..1)."""
    (length,) = struct.unpack_from("<I", data, 12)
    gltf = json.loads(data[20:20 + length])
    gltf["meshes"][0]["primitives"][0]["attributes"]["COLOR_0"] = 1
    text = json.dumps(gltf).encode()
    text += b" " * (-len(text) % 4)
    rest = data[20 + length:]
    return struct.pack("<4sII", b"glTF", 2, 20 + len(text) + len(rest)) + struct.pack("<II", len(text), 0x4E4F534A) + text + rest


def test_names_are_restored_everywhere(tmp_path):
    materials = [
        {"name": "Walnut veneer", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}},
        {"pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1]}},
    ]
    conv = loaded(tmp_path, quad_glb({}, materials=materials))
    assert [m.name for m in conv.scene.materials] == ["Walnut veneer"]
    assert all("\x1f" not in t.name for t in conv.scene.textures)
    assert conv.scene.textures[0].name.startswith("Walnut veneer")


def test_a_malformed_transform_fails_with_a_code(tmp_path):
    material = {"name": "veneer", "pbrMetallicRoughness": {
        "baseColorTexture": transformed({"index": 0}, {"offset": ["left", 0]})}}
    with pytest.raises(ConversionError) as caught:
        loaded(tmp_path, quad_glb(material, extensions_used=["KHR_texture_transform"]))
    assert caught.value.code == errors.CORRUPT_FILE
    assert "veneer" in caught.value.message and "\x1f" not in caught.value.message
