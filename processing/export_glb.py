"""export_glb: write the scene as one binary glTF 2.0 file, the `src` of the viewer.

This is the AR-safe flavour: no compression extensions (Scene Viewer cannot decode Draco,
meshopt or KTX2), one UV set, JPEG/PNG textures already capped by the textures step. Written by
hand rather than through a library so every byte is accounted for: accessors carry exact
min/max, indices use 16 bits when they fit, buffer views are 4-byte aligned, and each instance
is a node with translation/rotation/scale (a matrix that is not a pure TRS, e.g. a shear from a
non-uniformly scaled parent, is baked into a copy of the mesh instead).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from .scene import Material, Mesh, Primitive, Scene, normal_matrix, transform_points
from .settings import Settings

FLOAT, UINT16, UINT32 = 5126, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
GENERATOR = "Vitrine3D"
WRAP_CODES = {"repeat": 10497, "clamp": 33071, "mirror": 33648}
SCENE_VIEWER_BYTES = 10_000_000  # ARCore Scene Viewer's recommended ceiling


def run(conv, settings: Settings) -> None:
    path = conv.workdir / "model.glb"
    write_glb(conv.scene, path)
    conv.outputs["glb"] = path
    size = path.stat().st_size
    conv.report.note(bytes=size, dropped=[])
    if size > SCENE_VIEWER_BYTES:
        conv.report.warn(f"the AR GLB is {size / 1e6:.1f} MB, over Scene Viewer's {SCENE_VIEWER_BYTES / 1e6:.0f} MB "
                         "recommendation: lower max_triangles or max_texture_size")


def write_glb(scene: Scene, path: Path) -> None:
    path.write_bytes(GlbWriter(scene).to_bytes())


class GlbWriter:
    def __init__(self, scene: Scene):
        self.scene = scene
        self.binary = bytearray()
        self.gltf: dict = {
            "asset": {"version": "2.0", "generator": GENERATOR},
            "scene": 0, "scenes": [{"nodes": []}], "nodes": [], "meshes": [],
            "accessors": [], "bufferViews": [], "buffers": [],
        }

    def to_bytes(self) -> bytes:
        # Geometry first: the web flavour encodes its WebP images on other threads meanwhile.
        mesh_ids = [self._write_mesh(mesh) for mesh in self.scene.meshes]
        for inst in self.scene.instances:
            self._write_node(inst.name, mesh_ids[inst.mesh], self.scene.meshes[inst.mesh], inst.matrix)
        self._write_textures()
        self.gltf["materials"] = [self._material_json(m) for m in self.scene.materials]
        used = sorted({name for m in self.gltf["materials"] for name in m.get("extensions", {})})
        if used:
            self.gltf["extensionsUsed"] = sorted(set(self.gltf.get("extensionsUsed", [])) | set(used))
        if not self.scene.textures:
            del self.gltf["images"]
        self.gltf["buffers"] = [{"byteLength": len(self.binary)}]
        return _pack(self.gltf, bytes(self.binary))

    def _view(self, data: bytes, target: int | None = None) -> int:
        self.binary.extend(b"\x00" * (-len(self.binary) % 4))
        view = {"buffer": 0, "byteOffset": len(self.binary), "byteLength": len(data)}
        if target:
            view["target"] = target
        self.binary.extend(data)
        self.gltf["bufferViews"].append(view)
        return len(self.gltf["bufferViews"]) - 1

    def _accessor(self, array: np.ndarray, component: int, kind: str, target: int, bounds: bool = False) -> int:
        accessor = {"bufferView": self._view(array.tobytes(), target), "componentType": component,
                    "count": int(len(array)), "type": kind}
        if bounds:
            accessor["min"] = [float(v) for v in array.min(axis=0)]
            accessor["max"] = [float(v) for v in array.max(axis=0)]
        self.gltf["accessors"].append(accessor)
        return len(self.gltf["accessors"]) - 1

    def _write_textures(self) -> None:
        """Images once each; textures (image + sampler) are made as materials ask for them."""
        self.gltf["images"] = [self._image_json(t) for t in self.scene.textures]
        self._samplers: dict[tuple[str, str], int] = {}
        self._textures: dict[tuple[int, int], int] = {}

    def _image_json(self, texture) -> dict:
        return {"name": texture.name, "mimeType": texture.mime_type, "bufferView": self._view(texture.encoded)}

    def _texture_json(self, image: int, sampler: int) -> dict:
        return {"sampler": sampler, "source": image}

    def texture_index(self, image: int, wrap: tuple[str, str]) -> int:
        """The glTF texture showing `image` with wrap modes `wrap` (made on first use)."""
        if wrap not in self._samplers:
            self._samplers[wrap] = len(self.gltf.setdefault("samplers", []))
            sampler = {"magFilter": 9729, "minFilter": 9987}
            sampler.update({key: WRAP_CODES[mode] for key, mode in zip(("wrapS", "wrapT"), wrap) if mode != "repeat"})
            self.gltf["samplers"].append(sampler)
        key = (image, self._samplers[wrap])
        if key not in self._textures:
            self._textures[key] = len(self.gltf.setdefault("textures", []))
            self.gltf["textures"].append(self._texture_json(*key))
        return self._textures[key]

    def _write_mesh(self, mesh: Mesh) -> int:
        self.gltf["meshes"].append({"name": mesh.name, "primitives": [self._primitive(p) for p in mesh.primitives]})
        return len(self.gltf["meshes"]) - 1

    def _primitive(self, prim: Primitive) -> dict:
        positions = np.ascontiguousarray(prim.positions, dtype=np.float32)
        attributes = {"POSITION": self._accessor(positions, FLOAT, "VEC3", ARRAY_BUFFER, bounds=True)}
        if prim.normals is not None:
            attributes["NORMAL"] = self._accessor(np.ascontiguousarray(prim.normals, dtype=np.float32), FLOAT, "VEC3", ARRAY_BUFFER)
        if prim.uvs is not None:
            attributes["TEXCOORD_0"] = self._accessor(np.ascontiguousarray(prim.uvs, dtype=np.float32), FLOAT, "VEC2", ARRAY_BUFFER)
        small = prim.vertex_count < 0xFFFF
        indices = np.ascontiguousarray(prim.faces.reshape(-1), dtype=np.uint16 if small else np.uint32)
        return {"attributes": attributes, "material": int(prim.material),
                "indices": self._accessor(indices, UINT16 if small else UINT32, "SCALAR", ELEMENT_ARRAY_BUFFER)}

    def _write_node(self, name: str, mesh_id: int, mesh: Mesh, matrix: np.ndarray) -> None:
        node = {"name": name}
        trs = decompose(matrix @ self._mesh_frame(mesh_id))
        if trs is None:
            mesh_id = self._write_mesh(baked(mesh, matrix))
            trs = decompose(self._mesh_frame(mesh_id))
        if trs is not None:
            for key, value, default in zip(("translation", "rotation", "scale"), trs, _TRS_DEFAULTS):
                if value != default:
                    node[key] = float32_list(value)
        node["mesh"] = mesh_id
        self.gltf["nodes"].append(node)
        self.gltf["scenes"][0]["nodes"].append(len(self.gltf["nodes"]) - 1)

    def _material_json(self, m: Material) -> dict:
        def ref(slot: str, image: int) -> dict:
            return {"index": self.texture_index(image, tuple(m.texture_wrap.get(slot, ("repeat", "repeat"))))}

        pbr: dict = {key: value for key, value, default in (
            ("baseColorFactor", float32_list(m.base_color_factor), [1.0] * 4),
            ("metallicFactor", float32(m.metallic_factor), 1.0),
            ("roughnessFactor", float32(m.roughness_factor), 1.0)) if value != default}
        if m.base_color_texture is not None:
            pbr["baseColorTexture"] = ref("baseColorTexture", m.base_color_texture)
        if m.metallic_roughness_texture is not None:
            pbr["metallicRoughnessTexture"] = ref("metallicRoughnessTexture", m.metallic_roughness_texture)
        out: dict = {"name": m.name, "pbrMetallicRoughness": pbr}
        if m.normal_texture is not None:
            out["normalTexture"] = {**ref("normalTexture", m.normal_texture), "scale": float(m.normal_scale)}
        if m.occlusion_texture is not None:
            out["occlusionTexture"] = {**ref("occlusionTexture", m.occlusion_texture),
                                       "strength": float(m.occlusion_strength)}
        if m.emissive_texture is not None:
            out["emissiveTexture"] = ref("emissiveTexture", m.emissive_texture)
        if any(m.emissive_factor):
            out["emissiveFactor"] = [float(c) for c in m.emissive_factor]
        if m.alpha_mode != "OPAQUE":
            out["alphaMode"] = m.alpha_mode
        if m.alpha_mode == "MASK":
            out["alphaCutoff"] = float(m.alpha_cutoff)
        if m.double_sided:
            out["doubleSided"] = True
        extensions = carried_extensions(m)
        if extensions:
            out["extensions"] = extensions
        return out


    def _mesh_frame(self, mesh_id: int) -> np.ndarray:
        """How a written mesh's coordinates map to the scene mesh's (identity: written as they are)."""
        return np.eye(4)


def carried_extensions(m: Material) -> dict:
    """The source's KHR_materials_* values, without their textures (those are not carried)."""
    carried = {}
    for name, values in m.extensions.items():
        kept = {k: v for k, v in values.items() if not k.endswith("Texture")} if isinstance(values, dict) else {}
        if kept or values == {}:
            carried[name] = kept
    return carried


def float32(value: float) -> float:
    """`value` as the float32 a viewer reads, written with the fewest digits that give it back
    (0.00010301202 rather than 0.00010301202293688915: on a small model the JSON is a tenth of
    the web file)."""
    return float(str(np.float32(value)))


def float32_list(values) -> list[float]:
    return [float32(v) for v in values]


def decompose(matrix: np.ndarray, tolerance: float = 1e-5):
    """Translation, unit quaternion (x, y, z, w) and scale of `matrix`, or None if it shears."""
    linear = matrix[:3, :3]
    scale = np.linalg.norm(linear, axis=0)
    if np.any(scale < 1e-12) or not np.allclose(matrix[3], (0, 0, 0, 1)):
        return None
    rotation = linear / scale
    if np.linalg.det(rotation) < 0:
        scale[0] = -scale[0]
        rotation[:, 0] = -rotation[:, 0]
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=tolerance):
        return None
    quat = _quaternion(rotation)
    return [float(v) for v in matrix[:3, 3]], [float(v) for v in quat], [float(v) for v in scale]


_TRS_DEFAULTS = ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0])  # glTF's: left out


def _quaternion(r: np.ndarray) -> np.ndarray:
    """Rotation matrix to quaternion (x, y, z, w), Shepperd's method (stable for every angle)."""
    trace = np.trace(r)
    if trace > 0:
        s = np.sqrt(trace + 1.0) * 2
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
        q = [0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s]
    elif r[1, 1] > r[2, 2]:
        s = np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2]) * 2
        q = [(r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s]
    else:
        s = np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1]) * 2
        q = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s, (r[1, 0] - r[0, 1]) / s]
    q = np.array(q)
    return q / np.linalg.norm(q)


def baked(mesh: Mesh, matrix: np.ndarray) -> Mesh:
    """A copy of `mesh` with `matrix` applied to its vertices (for transforms glTF cannot express)."""
    flip = np.linalg.det(matrix[:3, :3]) < 0
    nm = normal_matrix(matrix)
    primitives = []
    for p in mesh.primitives:
        normals = None
        if p.normals is not None:
            normals = p.normals.astype(np.float64) @ nm.T
            normals = (normals / np.maximum(np.linalg.norm(normals, axis=1), 1e-30)[:, None]).astype(np.float32)
        faces = p.faces[:, ::-1].copy() if flip else p.faces
        primitives.append(Primitive(transform_points(p.positions, matrix).astype(np.float32), faces,
                                    p.material, normals, p.uvs))
    return Mesh(mesh.name, primitives)


def _pack(gltf: dict, binary: bytes) -> bytes:
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\x00" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    if binary:
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks
