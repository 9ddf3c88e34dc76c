"""Upload files in the formats catalog teams send besides glTF/OBJ/STL/PLY, built in code.

Each writer is independent of our loaders: FBX (binary and ASCII) and 3DS are written from their
published layouts by the small writers below, COLLADA by pycollada (through trimesh), USD by usd-core.
Every builder makes the same product — a textured box of `size` in its file's own units — so a test can
check one expected size whatever the format. "Z-up" variants store the height along +Z.
"""
from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np

from .inputs import checker_png, make_zip

# A box as 6 quads of 4 corners each (own UVs per face), counter-clockwise seen from outside.
_QUADS = [(4, 5, 6, 7), (1, 0, 3, 2), (0, 4, 7, 3), (5, 1, 2, 6), (3, 7, 6, 2), (0, 1, 5, 4)]
_QUAD_UVS = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


def box_corners(size, z_up: bool = False) -> np.ndarray:
    """The 8 corners of a box of width x height x depth; Z-up puts the height on +Z."""
    w, h, d = (s / 2 for s in size)
    corners = np.array([(-w, -h, -d), (w, -h, -d), (w, h, -d), (-w, h, -d),
                        (-w, -h, d), (w, -h, d), (w, h, d), (-w, h, d)], dtype=np.float64)
    if z_up:  # (x, y, z) in Y-up is (x, -z, y) in Z-up: a right-handed rotation about +X
        corners = np.stack([corners[:, 0], -corners[:, 2], corners[:, 1]], axis=1)
    return corners


# --- FBX -----------------------------------------------------------------------------------------
# An FBX document is a tree of nodes (name, properties, children); one tree is written both ways.

class _Id(int):
    """An object id: a 64-bit integer in binary FBX (other integers are 32-bit)."""

def _fbx_tree(size, unit_cm: float, up_axis: int, texture_name: str, texture_path: str,
              embedded: bytes | None, z_up: bool) -> list:
    corners = box_corners(size, z_up)
    vertices = np.asarray(corners, dtype=np.float64).ravel()
    polygon = []
    for quad in _QUADS:
        polygon += list(quad[:-1]) + [-quad[-1] - 1]  # the last index of a polygon is stored as ~i
    uv = np.array(_QUAD_UVS, dtype=np.float64).ravel()
    uv_index = [0, 1, 2, 3] * len(_QUADS)
    front = 2 if up_axis == 1 else 1
    settings = [
        ("P", ["UpAxis", "int", "Integer", "", up_axis], []),
        ("P", ["UpAxisSign", "int", "Integer", "", 1], []),
        ("P", ["FrontAxis", "int", "Integer", "", front], []),
        ("P", ["FrontAxisSign", "int", "Integer", "", 1 if up_axis == 1 else -1], []),
        ("P", ["CoordAxis", "int", "Integer", "", 0], []),
        ("P", ["CoordAxisSign", "int", "Integer", "", 1], []),
        ("P", ["UnitScaleFactor", "double", "Number", "", float(unit_cm)], []),
        ("P", ["OriginalUnitScaleFactor", "double", "Number", "", float(unit_cm)], []),
    ]
    video_children = [("Type", ["Clip"], []), ("FileName", [texture_path], []),
                      ("RelativeFilename", [texture_path], [])]
    if embedded is not None:
        video_children.append(("Content", [embedded], []))
    objects = [
        ("Geometry", [_Id(1000), "Geometry::box", "Mesh"], [
            ("Vertices", [vertices], []),
            ("PolygonVertexIndex", [np.array(polygon, dtype=np.int32)], []),
            ("GeometryVersion", [124], []),
            ("LayerElementUV", [0], [
                ("Version", [101], []), ("Name", ["UVMap"], []),
                ("MappingInformationType", ["ByPolygonVertex"], []),
                ("ReferenceInformationType", ["IndexToDirect"], []),
                ("UV", [uv], []), ("UVIndex", [np.array(uv_index, dtype=np.int32)], []),
            ]),
            ("LayerElementMaterial", [0], [
                ("Version", [101], []), ("Name", [""], []),
                ("MappingInformationType", ["AllSame"], []),
                ("ReferenceInformationType", ["IndexToDirect"], []),
                ("Materials", [np.array([0], dtype=np.int32)], []),
            ]),
            ("Layer", [0], [
                ("Version", [100], []),
                ("LayerElement", [], [("Type", ["LayerElementUV"], []), ("TypedIndex", [0], [])]),
                ("LayerElement", [], [("Type", ["LayerElementMaterial"], []), ("TypedIndex", [0], [])]),
            ]),
        ]),
        ("Model", [_Id(2000), "Model::box", "Mesh"], [("Version", [232], [])]),
        ("Material", [_Id(3000), "Material::wood", ""], [
            ("Version", [102], []), ("ShadingModel", ["phong"], []),
            ("Properties70", [], [("P", ["DiffuseColor", "Color", "", "A", 1.0, 1.0, 1.0], [])]),
        ]),
        ("Texture", [_Id(4000), "Texture::" + texture_name, ""], [
            ("Type", ["TextureVideoClip"], []), ("FileName", [texture_path], []),
            ("RelativeFilename", [texture_path], []),
        ]),
        ("Video", [_Id(5000), "Video::" + texture_name, "Clip"], video_children),
    ]
    connections = [
        ("C", ["OO", _Id(2000), _Id(0)], []), ("C", ["OO", _Id(1000), _Id(2000)], []),
        ("C", ["OO", _Id(3000), _Id(2000)], []), ("C", ["OP", _Id(4000), _Id(3000), "DiffuseColor"], []),
        ("C", ["OO", _Id(5000), _Id(4000)], []),
    ]
    return [
        ("FBXHeaderExtension", [], [("FBXHeaderVersion", [1003], []), ("FBXVersion", [7400], [])]),
        ("GlobalSettings", [], [("Version", [1000], []), ("Properties70", [], settings)]),
        ("Objects", [], objects),
        ("Connections", [], connections),
    ]


def fbx_box(size=(200.0, 90.0, 85.0), unit_cm: float = 1.0, binary: bool = True, z_up: bool = False,
            texture_name: str = "wood.png", texture_path: str | None = None, embed: bool = False) -> bytes:
    """A textured FBX box; `unit_cm` is the file's UnitScaleFactor (centimetres per unit)."""
    tree = _fbx_tree(size, unit_cm, 2 if z_up else 1, texture_name, texture_path or texture_name,
                     checker_png() if embed else None, z_up)
    return _fbx_binary(tree) if binary else _fbx_ascii(tree)


def fbx_zip(fbx: bytes, texture_name: str = "wood.png", fbx_name: str = "box.fbx") -> bytes:
    return make_zip({fbx_name: fbx, texture_name: checker_png()})


def _fbx_ascii(tree: list) -> bytes:
    lines = ["; FBX 7.4.0 project file", "; written by the Vitrine3D tests"]

    def value(v) -> str:
        if isinstance(v, str):
            return '"' + v.replace('"', "&quot;") + '"'
        if isinstance(v, bytes):
            return '"' + base64.b64encode(v).decode() + '"'
        return repr(float(v)) if isinstance(v, float) else str(int(v))

    def write(node, depth):
        name, props, children = node
        pad = "\t" * depth
        arrays = [p for p in props if isinstance(p, np.ndarray)]
        if arrays:
            data = ",".join(value(x.item()) for x in arrays[0])
            lines.append(f"{pad}{name}: *{len(arrays[0])} {{")
            lines.append(f"{pad}\ta: {data}")
            lines.append(f"{pad}}}")
            return
        head = f"{pad}{name}: " + ", ".join(value(p) for p in props)
        if children:
            lines.append(head + " {")
            for child in children:
                write(child, depth + 1)
            lines.append(pad + "}")
        else:
            lines.append(head)

    for node in tree:
        write(node, 0)
    return ("\n".join(lines) + "\n").encode()


def _fbx_binary(tree: list, version: int = 7400) -> bytes:
    out = bytearray(b"Kaydara FBX Binary  \x00\x1a\x00" + struct.pack("<I", version))
    for node in tree:
        _fbx_node(out, node)
    out += b"\x00" * 13  # the null record that ends the top level
    out += b"\xfa\xbc\xab\x09\xd0\xc8\xd4\x66\xb1\x76\xfb\x83\x1c\xf7\x26\x7e" + b"\x00" * 4
    out += struct.pack("<I", version) + b"\x00" * 120 + b"\xf8\x5a\x8c\x6a\xde\xf5\xd9\x7e\xec\xe9\x0c\xe3\x75\x8f\x29\x0b"
    return bytes(out)


def _fbx_node(out: bytearray, node) -> None:
    name, props, children = node
    start = len(out)
    encoded = b"".join(_fbx_property(p) for p in props)
    out += struct.pack("<III", 0, len(props), len(encoded)) + bytes([len(name)]) + name.encode() + encoded
    if children:
        for child in children:
            _fbx_node(out, child)
        out += b"\x00" * 13
    struct.pack_into("<I", out, start, len(out))


def _fbx_property(p) -> bytes:
    if isinstance(p, np.ndarray):
        code, raw = ("d", p.astype("<f8").tobytes()) if p.dtype.kind == "f" else ("i", p.astype("<i4").tobytes())
        packed = zlib.compress(raw)
        return code.encode() + struct.pack("<III", len(p), 1, len(packed)) + packed
    if isinstance(p, bool):
        return b"C" + bytes([p])
    if isinstance(p, _Id):
        return b"L" + struct.pack("<q", p)
    if isinstance(p, int):
        return b"I" + struct.pack("<i", p)
    if isinstance(p, float):
        return b"D" + struct.pack("<d", p)
    if isinstance(p, bytes):
        return b"R" + struct.pack("<I", len(p)) + p
    text = p.encode()
    if "::" in p:  # binary FBX stores "Class::name" as "name\x00\x01Class"
        cls, _, obj = p.partition("::")
        text = obj.encode() + b"\x00\x01" + cls.encode()
    return b"S" + struct.pack("<I", len(text)) + text


# --- 3DS -----------------------------------------------------------------------------------------
# Chunks: id (u16), length including the 6-byte header (u32), then data and sub-chunks.

def _chunk(chunk_id: int, data: bytes = b"", *children: bytes) -> bytes:
    body = data + b"".join(children)
    return struct.pack("<HI", chunk_id, 6 + len(body)) + body


def max3ds_box(size=(200.0, 90.0, 85.0), texture_name: str = "WOOD.PNG", z_up: bool = True) -> bytes:
    """A textured box as 3ds Max writes it: Z-up, one vertex per face corner, 8.3 texture name."""
    corners = box_corners(size, z_up)
    positions, uvs, faces = [], [], []
    for quad in _QUADS:
        base = len(positions)
        positions += [corners[i] for i in quad]
        uvs += _QUAD_UVS
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    vertices = struct.pack("<H", len(positions)) + np.asarray(positions, "<f4").tobytes()
    mapping = struct.pack("<H", len(uvs)) + np.asarray(uvs, "<f4").tobytes()
    face_material = _chunk(0x4130, b"wood\x00" + struct.pack("<H", len(faces)) + struct.pack(f"<{len(faces)}H", *range(len(faces))))
    face_data = struct.pack("<H", len(faces)) + b"".join(struct.pack("<4H", a, b, c, 7) for a, b, c in faces)
    mesh = _chunk(0x4100, b"", _chunk(0x4110, vertices), _chunk(0x4140, mapping), _chunk(0x4120, face_data, face_material))
    material = _chunk(0xAFFF, b"",
                      _chunk(0xA000, b"wood\x00"),
                      _chunk(0xA020, b"", _chunk(0x0011, bytes([255, 255, 255]))),
                      _chunk(0xA200, b"", _chunk(0xA300, texture_name.encode() + b"\x00")))
    editor = _chunk(0x3D3D, b"", _chunk(0x3D3E, struct.pack("<I", 3)), material,
                    _chunk(0x0100, struct.pack("<f", 1.0)), _chunk(0x4000, b"box\x00", mesh))
    return _chunk(0x4D4D, b"", _chunk(0x0002, struct.pack("<I", 3)), editor)


def max3ds_zip(size=(200.0, 90.0, 85.0), texture_name: str = "WOOD.PNG") -> bytes:
    return make_zip({"box.3ds": max3ds_box(size, texture_name), texture_name: checker_png()})


# --- COLLADA -------------------------------------------------------------------------------------

def dae_box(size=(200.0, 90.0, 85.0), meter: float = 0.01, z_up: bool = False,
            texture_path: str = "wood.png") -> bytes:
    """A textured box written by pycollada, with `<unit meter>` and `<up_axis>` as given."""
    import collada
    from collada import asset, geometry, material, scene, source

    doc = collada.Collada()
    doc.assetInfo.unitmeter = meter
    doc.assetInfo.unitname = {0.001: "millimeter", 0.01: "centimeter", 1.0: "meter", 0.0254: "inch"}.get(meter, "unit")
    doc.assetInfo.upaxis = asset.UP_AXIS.Z_UP if z_up else asset.UP_AXIS.Y_UP
    image = material.CImage("wood-image", texture_path)
    surface = material.Surface("wood-surface", image)
    sampler = material.Sampler2D("wood-sampler", surface)
    effect = material.Effect("wood-effect", [surface, sampler], "phong",
                             diffuse=material.Map(sampler, "UVSET0"))
    mat = material.Material("wood", "wood", effect)
    doc.images.append(image)
    doc.effects.append(effect)
    doc.materials.append(mat)

    corners = box_corners(size, z_up)
    positions = np.array([corners[i] for quad in _QUADS for i in quad], dtype=np.float64)
    uvs = np.array(_QUAD_UVS * len(_QUADS), dtype=np.float64)
    triangles = np.array([[b, b + 1, b + 2, b, b + 2, b + 3] for b in range(0, 24, 4)]).reshape(-1, 3)
    sources = [source.FloatSource("pos", positions.ravel(), ("X", "Y", "Z")),
               source.FloatSource("uv", uvs.ravel(), ("S", "T"))]
    geom = geometry.Geometry(doc, "box", "box", sources)
    inputs = source.InputList()
    inputs.addInput(0, "VERTEX", "#pos")
    inputs.addInput(1, "TEXCOORD", "#uv", set="0")
    indices = np.stack([triangles.ravel(), triangles.ravel()], axis=1).ravel()
    geom.primitives.append(geom.createTriangleSet(indices, inputs, "wood"))
    doc.geometries.append(geom)
    node = scene.Node("box", children=[scene.GeometryNode(geom, [scene.MaterialNode("wood", mat, inputs=[("UVSET0", "TEXCOORD", "0")])])])
    doc.scenes.append(scene.Scene("scene", [node]))
    doc.scene = doc.scenes[0]
    buffer = io.BytesIO()
    doc.write(buffer)
    return buffer.getvalue()


def dae_zip(dae: bytes, texture_name: str = "wood.png") -> bytes:
    return make_zip({"box.dae": dae, texture_name: checker_png()})


# --- USD -----------------------------------------------------------------------------------------

def usd_box(size=(200.0, 90.0, 85.0), meters_per_unit: float | None = 0.01, z_up: bool = False,
            texture_path: str = "wood.png", extra: str = "", binary: bool = False) -> bytes:
    """A textured box (UsdPreviewSurface + UsdUVTexture) as usd-core writes it; `extra` is appended
    usda text (for hostile variants), so the layer is written as usda first."""
    from pxr import Sdf, Usd, UsdGeom, UsdShade

    stage = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z if z_up else UsdGeom.Tokens.y)
    if meters_per_unit is not None:
        UsdGeom.SetStageMetersPerUnit(stage, meters_per_unit)
    root = UsdGeom.Xform.Define(stage, "/box")
    stage.SetDefaultPrim(root.GetPrim())
    mesh = UsdGeom.Mesh.Define(stage, "/box/mesh")
    corners = box_corners(size, z_up)
    mesh.CreatePointsAttr([tuple(c) for c in corners])
    mesh.CreateFaceVertexCountsAttr([4] * len(_QUADS))
    mesh.CreateFaceVertexIndicesAttr([i for quad in _QUADS for i in quad])
    st = UsdGeom.PrimvarsAPI(mesh).CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.faceVarying)
    st.Set([uv for _ in _QUADS for uv in _QUAD_UVS])
    material = UsdShade.Material.Define(stage, "/box/wood")
    shader = UsdShade.Shader.Define(stage, "/box/wood/surface")
    shader.CreateIdAttr("UsdPreviewSurface")
    reader = UsdShade.Shader.Define(stage, "/box/wood/st")
    reader.CreateIdAttr("UsdPrimvarReader_float2")
    reader.CreateInput("varname", Sdf.ValueTypeNames.Token).Set("st")
    texture = UsdShade.Shader.Define(stage, "/box/wood/texture")
    texture.CreateIdAttr("UsdUVTexture")
    texture.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(texture_path)
    texture.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(reader.ConnectableAPI(), "result")
    texture.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
    shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(texture.ConnectableAPI(), "rgb")
    shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(0.7)
    material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim()).Bind(material)
    text = stage.GetRootLayer().ExportToString() + extra
    if not binary:
        return text.encode()
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as tmp:
        layer = Sdf.Layer.CreateAnonymous(".usda")
        layer.ImportFromString(text)
        layer.Export(str(Path(tmp) / "box.usdc"))
        return (Path(tmp) / "box.usdc").read_bytes()


def usdz_box(size=(200.0, 90.0, 85.0), meters_per_unit: float | None = 0.01, z_up: bool = False) -> bytes:
    """A USDZ package (usdc root first, texture beside it), made by usd-core's own packager."""
    import tempfile
    from pathlib import Path

    from pxr import UsdUtils
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "box.usdc").write_bytes(usd_box(size, meters_per_unit, z_up, binary=True))
        (folder / "wood.png").write_bytes(checker_png())
        assert UsdUtils.CreateNewUsdzPackage(str(folder / "box.usdc"), str(folder / "box.usdz"))
        return (folder / "box.usdz").read_bytes()
