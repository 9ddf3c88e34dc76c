"""load_gltf: our numpy glTF reader — accessors (strided, normalized, sparse), drawing modes, the
node tree and instancing, materials (texture transforms, wrap modes, extensions, specular-
glossiness), images — and that a GLB conversion never imports trimesh. The GLBs here are written by
hand (trimesh cannot write most of these features), so nothing of ours produces the input."""
from __future__ import annotations

import base64
import io
import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from pxr import Usd, UsdGeom, UsdShade

from processing import errors, load_gltf
from processing.errors import ConversionError
from processing.ingest import Upload
from processing.load import SafeResolver
from processing.pipeline import convert
from processing.report import Report
from processing.settings import Limits, Settings

from ..oracles import ROOT, assert_valid_glb, assert_valid_usdz
from .inputs import checker_png, make_zip, png_header
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
    header = struct.pack("<4sII", b"glTF", 2, 20 + len(text) + len(rest))
    return header + struct.pack("<II", len(text), 0x4E4F534A) + text + rest


def test_material_and_texture_names_come_from_the_file(tmp_path):
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


# --- a GLB conversion without trimesh -------------------------------------------------------------

def test_a_glb_conversion_never_imports_trimesh_nor_usd_core_here(tmp_path):
    """trimesh is not needed for glTF; usd-core is loaded by export_usdz's forked child only."""
    source = tmp_path / "upload.glb"
    material = {"name": "veneer", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}
    source.write_bytes(quad_glb(material))
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from processing.pipeline import convert\n"
        "from processing.settings import Settings\n"
        f"conv = convert(Path({str(source)!r}), Path({str(tmp_path / 'out')!r}), Settings())\n"
        "assert conv.report.validation['glb']['triangles'] == 2, conv.report.validation\n"
        "assert 'trimesh' not in sys.modules, 'trimesh was imported'\n"
        "assert 'pxr' not in sys.modules, 'usd-core was imported'\n"
        "assert conv.report.validation['usdz']['errors'] == [], conv.report.validation\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "model.usdz").stat().st_size > 0


# --- documents built feature by feature -----------------------------------------------------------

FLOAT, BYTE, UBYTE, USHORT, UINT = 5126, 5120, 5121, 5123, 5125
POINTS, LINES, STRIP, FAN = 0, 1, 5, 6


class Document:
    """A glTF document written by hand: arrays become buffer views and accessors of one buffer."""

    def __init__(self):
        self.gltf: dict = {"asset": {"version": "2.0"}, "accessors": [], "bufferViews": []}
        self.binary = bytearray()

    def view(self, data: bytes, **extra) -> int:
        self.binary.extend(b"\0" * (-len(self.binary) % 4))
        self.gltf["bufferViews"].append({"buffer": 0, "byteOffset": len(self.binary), "byteLength": len(data), **extra})
        self.binary.extend(data)
        return len(self.gltf["bufferViews"]) - 1

    def accessor(self, array: np.ndarray | None, component: int, kind: str, **extra) -> int:
        if array is not None and "bufferView" not in extra:
            extra["bufferView"] = self.view(np.ascontiguousarray(array).tobytes())
        count = extra.pop("count", None) or len(array)
        self.gltf["accessors"].append({"componentType": component, "count": count, "type": kind, **extra})
        return len(self.gltf["accessors"]) - 1

    def place(self, meshes: list[dict], nodes: list[dict] | None = None) -> None:
        self.gltf["meshes"] = meshes
        self.gltf["nodes"] = nodes or [{"mesh": i} for i in range(len(meshes))]
        children = {c for node in self.gltf["nodes"] for c in node.get("children", [])}
        self.gltf["scenes"] = [{"nodes": [i for i in range(len(self.gltf["nodes"])) if i not in children]}]

    def glb(self) -> bytes:
        binary = bytes(self.binary) + b"\0" * (-len(self.binary) % 4)
        gltf = {**self.gltf, "buffers": [{"byteLength": len(binary)}]}
        text = json.dumps(gltf).encode()
        text += b" " * (-len(text) % 4)
        body = struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(binary), 0x004E4942) + binary
        return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


# Six points on two rows, counter-clockwise seen from +Z:  3 4 5 (y = 1)
#                                                          0 1 2 (y = 0)
ROWS = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0], [1, 1, 0], [2, 1, 0]], dtype=np.float32)


def primitive(doc: Document, indices: np.ndarray | None = None, component: int = USHORT, **extra) -> dict:
    attributes = {"POSITION": doc.accessor(ROWS, FLOAT, "VEC3")}
    spec = {"attributes": attributes, **extra}
    if indices is not None:
        spec["indices"] = doc.accessor(indices, component, "SCALAR")
    return spec


def facing_z(prim) -> np.ndarray:
    a, b, c = (prim.positions[prim.faces[:, k]] for k in range(3))
    return np.cross(b - a, c - a)[:, 2]


def test_strips_fans_and_unindexed_triangles_become_triangles_with_gltf_winding(tmp_path):
    doc = Document()
    doc.place([
        {"name": "strip", "primitives": [primitive(doc, np.array([3, 0, 4, 1, 5, 2], np.uint8), UBYTE, mode=STRIP)]},
        {"name": "fan", "primitives": [primitive(doc, np.array([1, 2, 5, 4, 3, 0], np.uint32), UINT, mode=FAN)]},
        {"name": "soup", "primitives": [primitive(doc)]},
        {"name": "dots", "primitives": [primitive(doc, mode=POINTS)]},
        {"name": "wires", "primitives": [primitive(doc, mode=LINES)]},
    ])
    conv = loaded(tmp_path, doc.glb())
    strip, fan, soup = (mesh.primitives[0] for mesh in conv.scene.meshes)
    assert strip.faces.tolist() == [[3, 0, 4], [0, 1, 4], [4, 1, 5], [1, 2, 5]]
    assert fan.faces.tolist() == [[2, 5, 1], [5, 4, 1], [4, 3, 1], [3, 0, 1]]
    assert soup.faces.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert (facing_z(strip) > 0).all() and (facing_z(fan) > 0).all()
    assert [m.name for m in conv.scene.meshes] == ["strip", "fan", "soup"]
    for name in ("dots", "wires"):
        assert f"'{name}' is not a triangle mesh (points or lines): dropped" in conv.report.warnings


def test_strided_normalized_and_sparse_accessors_are_decoded(tmp_path):
    doc = Document()
    indices = doc.accessor(np.array([0, 1, 4, 0, 4, 3], np.uint16), USHORT, "SCALAR")
    interleaved = np.zeros((6, 2, 3), np.float32)
    interleaved[:, 0] = ROWS
    interleaved[:, 1] = (0, 0, 1)
    both = doc.view(interleaved.tobytes(), byteStride=24)
    normals = np.zeros((6, 4), np.int8)  # int8 VEC3 normals, padded to 4 bytes per vertex
    normals[:, :3] = (0, -127, 0)
    uvs = np.array([[0, 0], [32768, 0], [65535, 0], [0, 65535], [32768, 65535], [65535, 65535]], np.uint16)
    moved_rows = doc.view(np.array([1, 4], np.uint16).tobytes())
    moved_to = doc.view(np.array([[5, 5, 5], [6, 6, 6]], np.float32).tobytes())
    sparse = {"count": 2, "indices": {"bufferView": moved_rows, "componentType": USHORT},
              "values": {"bufferView": moved_to}}
    attributes = {
        "POSITION": doc.accessor(None, FLOAT, "VEC3", count=6, bufferView=both),
        "NORMAL": doc.accessor(None, FLOAT, "VEC3", count=6, bufferView=both, byteOffset=12),
        "TEXCOORD_0": doc.accessor(uvs, USHORT, "VEC2", normalized=True),
    }
    quantised = {"POSITION": attributes["POSITION"],
                 "NORMAL": doc.accessor(None, BYTE, "VEC3", count=6, normalized=True,
                                        bufferView=doc.view(normals.tobytes(), byteStride=4))}
    doc.gltf["materials"] = [{"name": "plain"}]
    doc.place([
        {"name": "interleaved", "primitives": [{"attributes": attributes, "indices": indices, "material": 0}]},
        {"name": "quantised", "primitives": [{"attributes": quantised, "indices": indices}]},
        {"name": "sparse", "primitives": [{"attributes": {
            "POSITION": doc.accessor(ROWS, FLOAT, "VEC3", sparse=sparse)}, "indices": indices}]},
        {"name": "sparse_on_zeros", "primitives": [{"attributes": {
            "POSITION": doc.accessor(None, FLOAT, "VEC3", count=6, sparse=sparse)}, "indices": indices}]},
    ])
    meshes = loaded(tmp_path, doc.glb()).scene.meshes
    interleaved_prim, quantised_prim, sparse_prim, zeros_prim = (m.primitives[0] for m in meshes)
    np.testing.assert_array_equal(interleaved_prim.positions, ROWS)
    np.testing.assert_array_equal(interleaved_prim.normals, np.tile([0, 0, 1], (6, 1)))
    np.testing.assert_allclose(interleaved_prim.uvs, uvs / 65535.0, atol=1e-7)  # not the raw integers
    np.testing.assert_array_equal(quantised_prim.normals, np.tile([0, -1, 0], (6, 1)))
    expected = ROWS.copy()
    expected[[1, 4]] = [[5, 5, 5], [6, 6, 6]]
    np.testing.assert_array_equal(sparse_prim.positions, expected)
    expected[[0, 2, 3, 5]] = 0
    np.testing.assert_array_equal(zeros_prim.positions, expected)


def test_sparse_data_is_checked_like_the_rest(tmp_path):
    def with_sparse(rows: list[int], values: list[list[float]]) -> bytes:
        doc = Document()
        sparse = {"count": len(rows), "indices": {"bufferView": doc.view(np.array(rows, np.uint16).tobytes()),
                                                  "componentType": USHORT},
                  "values": {"bufferView": doc.view(np.array(values, np.float32).tobytes())}}
        doc.place([{"primitives": [{"attributes": {"POSITION": doc.accessor(ROWS, FLOAT, "VEC3", sparse=sparse)}}]}])
        return doc.glb()

    for index, data in enumerate((with_sparse([2], [[math.nan, 0, 0]]), with_sparse([99], [[0, 0, 0]]))):
        (tmp_path / str(index)).mkdir()
        with pytest.raises(ConversionError) as caught:
            loaded(tmp_path / str(index), data)
        assert caught.value.code == errors.CORRUPT_FILE


def test_node_tree_is_flattened_and_a_mesh_placed_three_times_is_one_mesh(tmp_path):
    doc = Document()
    doc.gltf["materials"] = [{"name": "wood"}, {"name": "steel"}]
    two_parts = {"name": "panel", "primitives": [
        primitive(doc, np.array([0, 1, 4, 0, 4, 3], np.uint16), material=0),
        primitive(doc, np.array([1, 2, 5, 1, 5, 4], np.uint16), material=1)]}
    quarter_turn_about_y = [0, math.sqrt(0.5), 0, math.sqrt(0.5)]
    doc.place([two_parts], [
        {"name": "root", "children": [1, 2], "translation": [1, 2, 3], "rotation": quarter_turn_about_y,
         "scale": [2, 2, 2]},
        {"name": "a", "mesh": 0, "translation": [0.5, 0, 0]},
        {"name": "b", "mesh": 0, "children": [3], "matrix": [0, 0, -1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 4, 5, 6, 1]},
        {"name": "c", "mesh": 0, "translation": [0, 0, 1]},
    ])
    scene = loaded(tmp_path, doc.glb()).scene
    (mesh,) = scene.meshes
    assert mesh.name == "panel" and [p.material for p in mesh.primitives] == [0, 1]
    assert [(i.name, i.mesh) for i in scene.instances] == [("a", 0), ("b", 0), ("c", 0)]
    assert scene.triangle_count == 3 * 4

    def world(name: str, point) -> list[float]:
        (instance,) = [i for i in scene.instances if i.name == name]
        return (instance.matrix @ [*point, 1.0])[:3].round(6).tolist()

    # root: x 2, then (x, y, z) -> (z, y, -x), then + (1, 2, 3)
    assert world("a", (0, 0, 0)) == [1, 2, 2]            # a's (0.5, 0, 0) under root
    assert world("b", (1, 0, 0)) == [11, 12, -5]         # b's columns map x to -z, then + (4, 5, 6)
    assert world("c", (0, 0, 0)) == [13, 12, -7]         # c's (0, 0, 1) is b's x axis: (5, 5, 6) under root


def test_a_gltf_without_scenes_shows_its_root_nodes(tmp_path):
    doc = Document()
    doc.place([{"primitives": [primitive(doc)]}], [{"mesh": 0, "translation": [0, 0, 1]}])
    del doc.gltf["scenes"]
    scene = loaded(tmp_path, doc.glb()).scene
    assert scene.triangle_count == 2 and scene.instances[0].matrix[2, 3] == 1


def test_materials_keep_every_factor_and_the_default_stands_in_for_none(tmp_path):
    doc = Document()
    doc.gltf["images"] = [{"bufferView": doc.view(checker_png(8)), "mimeType": "image/png"}]
    doc.gltf["textures"] = [{"source": 0}]
    doc.gltf["materials"] = [{
        "name": "lacquer",
        "pbrMetallicRoughness": {"baseColorFactor": [0.9, 0.5, 0.25, 0.8], "metallicFactor": 0.1,
                                 "roughnessFactor": 0.77, "baseColorTexture": {"index": 0}},
        "normalTexture": {"index": 0, "scale": 0.5}, "occlusionTexture": {"index": 0, "strength": 0.25},
        "emissiveFactor": [0.1, 0.2, 0.3], "alphaMode": "MASK", "alphaCutoff": 0.3, "doubleSided": True,
    }]
    uvs = doc.accessor(ROWS[:, :2], FLOAT, "VEC2")
    textured = primitive(doc, material=0)
    textured["attributes"]["TEXCOORD_0"] = uvs
    doc.place([{"name": "with_uvs", "primitives": [textured]},
               {"name": "without_uvs", "primitives": [primitive(doc, material=0)]},
               {"name": "unpainted", "primitives": [primitive(doc)]}])
    conv = loaded(tmp_path, doc.glb())
    lacquer, bare, default = conv.scene.materials
    assert lacquer.base_color_factor == (0.9, 0.5, 0.25, 0.8)  # as written, not rounded to 8 bits
    assert (lacquer.metallic_factor, lacquer.roughness_factor) == (0.1, 0.77)
    assert (lacquer.normal_scale, lacquer.occlusion_strength) == (0.5, 0.25)
    assert lacquer.emissive_factor == (0.1, 0.2, 0.3)
    assert (lacquer.alpha_mode, lacquer.alpha_cutoff, lacquer.double_sided) == ("MASK", 0.3, True)
    assert lacquer.texture_slots() == {"baseColorTexture": 0, "normalTexture": 0, "occlusionTexture": 0}
    assert [t.name for t in conv.scene.textures] == ["lacquer_baseColor"]
    assert bare.name == "lacquer" and bare.texture_slots() == {} and bare.base_color_factor == lacquer.base_color_factor
    assert "Material 'lacquer': baseColor texture dropped (the mesh has no UVs)" in conv.report.warnings
    assert (default.name, default.base_color_factor, default.roughness_factor) == ("default", (0.8, 0.8, 0.8, 1.0), 0.7)


def spec_gloss_glb(extension: dict, images: list[Image.Image] = (), sampler: dict | None = None) -> bytes:
    doc = Document()
    doc.gltf["images"] = [{"bufferView": doc.view(encoded(image, "PNG")), "mimeType": "image/png"} for image in images]
    doc.gltf["textures"] = [{"source": i, "sampler": 0} for i in range(len(images))]
    doc.gltf["samplers"] = [sampler or {}]
    doc.gltf["extensionsUsed"] = ["KHR_materials_pbrSpecularGlossiness"]
    doc.gltf["materials"] = [{"name": "sg", "extensions": {"KHR_materials_pbrSpecularGlossiness": extension}}]
    quad = primitive(doc, np.array([0, 1, 4, 0, 4, 3], np.uint16), material=0)
    quad["attributes"]["TEXCOORD_0"] = doc.accessor(ROWS[:, :2], FLOAT, "VEC2")
    doc.place([{"primitives": [quad]}])
    return doc.glb()


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("extension, base, metallic, roughness", [
    # a dielectric (specular 0.04) keeps its diffuse colour and is not metal
    ({"diffuseFactor": [0.5, 0.5, 0.5, 1], "specularFactor": [0.04, 0.04, 0.04], "glossinessFactor": 0.8},
     (0.5, 0.5, 0.5, 1.0), 0.0, 0.2),
    # black diffuse under a coloured specular is a metal of that colour (the corpus's gold cube)
    ({"diffuseFactor": [0, 0, 0, 0.9], "specularFactor": [1.0, 0.766, 0.336], "glossinessFactor": 0.7},
     (1.0, 0.766, 0.336, 0.9), 1.0, 0.3),
    # in between, the diffuse- and specular-derived colours blend by metalness squared
    ({"diffuseFactor": [0.5, 0.1, 0.1, 1], "specularFactor": [0.2, 0.2, 0.2], "glossinessFactor": 0.5},
     (0.66976, 0.19433, 0.19433, 1.0), 0.42629, 0.5),
])
def test_specular_glossiness_factors_become_metallic_roughness(tmp_path, extension, base, metallic, roughness):
    (material,) = loaded(tmp_path, spec_gloss_glb(extension)).scene.materials
    np.testing.assert_allclose(material.base_color_factor, base, atol=1e-3)
    assert material.metallic_factor == pytest.approx(metallic, abs=1e-3)
    assert material.roughness_factor == pytest.approx(roughness, abs=1e-6)
    assert material.extensions == {}


def test_specular_glossiness_textures_convert_per_pixel_like_the_factors(tmp_path):
    """Uniform textures must give, in every pixel, what the same colours give as factors."""
    diffuse = Image.new("RGBA", (8, 8), (188, 137, 74, 255))  # sRGB of linear (0.5, 0.25, 0.07)
    specular_glossiness = Image.new("RGBA", (16, 16), (140, 140, 140, 153))  # gloss 0.6
    factors = {"diffuseFactor": [1, 1, 1, 1], "specularFactor": [1, 1, 1], "glossinessFactor": 1}
    textured = loaded(tmp_path, spec_gloss_glb({**factors, "diffuseTexture": {"index": 0},
                                                "specularGlossinessTexture": {"index": 1}},
                                               [diffuse, specular_glossiness])).scene
    (tmp_path / "factors").mkdir()
    linear = [((c / 255 + 0.055) / 1.055) ** 2.4 for c in (188, 137, 74, 140)]
    plain = loaded(tmp_path / "factors", spec_gloss_glb({
        "diffuseFactor": [*linear[:3], 1.0], "specularFactor": [linear[3]] * 3, "glossinessFactor": 0.6})).scene
    (material,), (expected,) = textured.materials, plain.materials
    assert (material.base_color_factor, material.metallic_factor, material.roughness_factor) == ((1, 1, 1, 1), 1, 1)
    base = np.asarray(textured.textures[material.base_color_texture].image, dtype=np.float64) / 255
    metal_rough = np.asarray(textured.textures[material.metallic_roughness_texture].image, dtype=np.float64) / 255
    assert base.shape == (16, 16, 4) and metal_rough.shape == (16, 16, 3)  # the larger texture's size
    srgb = [1.055 * c ** (1 / 2.4) - 0.055 for c in expected.base_color_factor[:3]]
    np.testing.assert_allclose(base.reshape(-1, 4), np.tile([*srgb, 1.0], (256, 1)), atol=1 / 255)
    metal_rough_expected = [0, expected.roughness_factor, expected.metallic_factor]
    np.testing.assert_allclose(metal_rough.reshape(-1, 3), np.tile(metal_rough_expected, (256, 1)), atol=1 / 255)


# --- images ---------------------------------------------------------------------------------------

def test_gltf_images_from_files_and_data_uris_and_a_missing_one(tmp_path):
    doc = Document()
    data_uri = "data:image/png;base64," + base64.b64encode(checker_png(8)).decode()
    doc.gltf["images"] = [{"uri": "maps/wood%20grain.png"}, {"uri": data_uri}, {"uri": "gone.png"}]
    doc.gltf["textures"] = [{"source": 0}, {"source": 1}, {"source": 2}]
    doc.gltf["materials"] = [{"name": "oak", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}},
                              "emissiveTexture": {"index": 1}, "normalTexture": {"index": 2}}]
    quad = primitive(doc, material=0)
    quad["attributes"]["TEXCOORD_0"] = doc.accessor(ROWS[:, :2], FLOAT, "VEC2")
    doc.place([{"primitives": [quad]}])
    gltf = {**doc.gltf, "buffers": [{"uri": "model.bin", "byteLength": len(doc.binary)}]}
    upload = make_zip({"model.gltf": json.dumps(gltf), "model.bin": bytes(doc.binary),
                       "maps/wood grain.png": checker_png(32)})
    conv = run_until(tmp_path, upload, "load", name="model.zip")
    (oak,) = conv.scene.materials
    sizes = [conv.scene.textures[i].image.size for i in (oak.base_color_texture, oak.emissive_texture)]
    assert sizes == [(32, 32), (8, 8)]
    assert oak.normal_texture is None
    assert "'gone.png' is named by the model but not in the upload: it was skipped" in conv.report.warnings


@pytest.mark.parametrize("image, code", [
    (lambda: encoded(Image.new("P", (8, 8)), "GIF"), errors.TEXTURE_UNSUPPORTED),
    (lambda: png_header(4096, 4096), errors.TEXTURE_TOO_LARGE),
])
def test_the_reader_applies_the_image_gate_itself(tmp_path, image, code):
    """Called without the preflight step, the reader still refuses what the image gate refuses."""
    doc = Document()
    doc.gltf["images"] = [{"bufferView": doc.view(image()), "mimeType": "image/png"}]
    doc.gltf["textures"] = [{"source": 0}]
    doc.gltf["materials"] = [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}]
    quad = primitive(doc, material=0)
    quad["attributes"]["TEXCOORD_0"] = doc.accessor(ROWS[:, :2], FLOAT, "VEC2")
    doc.place([{"primitives": [quad]}])
    (tmp_path / "model.glb").write_bytes(doc.glb())
    upload = Upload(format="glb", root=tmp_path / "model.glb", directory=tmp_path, archive=False)
    limits = Limits(texture_pixels=1024 * 1024)
    with pytest.raises(ConversionError) as caught:
        load_gltf.load(upload, SafeResolver(upload, limits), limits, Report())
    assert caught.value.code == code


def test_a_diffuse_texture_alone_still_gives_both_textures_mapped_like_it(tmp_path):
    extension = {"diffuseTexture": {"index": 0}, "specularFactor": [0.2, 0.2, 0.2], "glossinessFactor": 0.5}
    data = spec_gloss_glb(extension, [Image.new("RGB", (4, 4), (200, 30, 30))], {"wrapS": CLAMP, "wrapT": MIRROR})
    (material,) = loaded(tmp_path, data).scene.materials
    assert set(material.texture_slots()) == {"baseColorTexture", "metallicRoughnessTexture"}
    assert material.texture_wrap == {"baseColorTexture": ("clamp", "mirror"),
                                     "metallicRoughnessTexture": ("clamp", "mirror")}
