"""export_web_glb: the `web` flavour — the same scene, quantised and meshopt-compressed.

For the inline 3D view only (model-viewer decodes it with the self-hosted meshopt decoder); AR
always gets the plain `ar` GLB, because Scene Viewer cannot decode EXT_meshopt_compression,
KHR_mesh_quantization or WebP.

- Positions: 14-bit integers on a grid per mesh (KHR_mesh_quantization); the grid's offset and step
  go into each node's transform, so instances still share one mesh. 14 bits over a 2 m sofa is a
  0.12 mm step, far below what a phone shows (gltfpack's default too).
- Normals: 8-bit normalised; UVs: 16-bit normalised when they lie in [0, 1], else float.
- Every vertex and index stream is encoded with meshoptimizer's codecs (EXT_meshopt_compression:
  vertex codec v0, index codec v1), which also make gzip/brotli on the wire far more effective.
- Textures: WebP (EXT_texture_webp), lossy for colour and data alike, alpha kept when present.
All three extensions are required: the file has no uncompressed fallback (that is the `ar` file).
"""
from __future__ import annotations

import io

import numpy as np

from . import meshopt
from .export_glb import ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, FLOAT, UINT16, UINT32, GlbWriter, _pack
from .scene import Mesh, Primitive, Scene
from .settings import Settings

POSITION_BITS = 14
WEBP_QUALITY = 85
WEBP_EFFORT = 2  # libwebp method 0-6: 4 took 2 s on a 2048 px texture for ~3% fewer bytes
BYTE, UBYTE, SHORT = 5120, 5121, 5122
EXTENSIONS = ["EXT_meshopt_compression", "KHR_mesh_quantization", "EXT_texture_webp"]


def run(conv, settings: Settings) -> None:
    path = conv.workdir / "model.web.glb"
    path.write_bytes(WebGlbWriter(conv.scene).to_bytes())
    conv.outputs["glb_web"] = path
    conv.report.note(bytes=path.stat().st_size, dropped=[
        f"positions quantised to {POSITION_BITS} bits per axis (per mesh)",
        "normals quantised to 8 bits", "textures re-encoded as WebP"])


class WebGlbWriter(GlbWriter):
    def __init__(self, scene: Scene):
        super().__init__(scene)
        self.fallback_length = 0
        self.frames: dict[int, np.ndarray] = {}
        self._grid: tuple[np.ndarray, float] | None = None

    def to_bytes(self) -> bytes:
        self.gltf["extensionsUsed"] = list(EXTENSIONS)
        self.gltf["extensionsRequired"] = list(EXTENSIONS)
        super().to_bytes()
        self.gltf["buffers"] = [
            {"byteLength": len(self.binary)},
            {"byteLength": self.fallback_length, "extensions": {"EXT_meshopt_compression": {"fallback": True}}},
        ]
        return _pack(self.gltf, bytes(self.binary))

    def _image_json(self, texture) -> dict:
        return {"name": texture.name, "mimeType": "image/webp", "bufferView": self._view(_webp(texture.image))}

    def _texture_json(self, image: int, sampler: int) -> dict:
        return {"sampler": sampler, "extensions": {"EXT_texture_webp": {"source": image}}}

    def _write_mesh(self, mesh: Mesh) -> int:
        low = np.min([p.positions.min(axis=0) for p in mesh.primitives], axis=0).astype(np.float64)
        high = np.max([p.positions.max(axis=0) for p in mesh.primitives], axis=0).astype(np.float64)
        step = max(float((high - low).max()), 1e-9) / (2 ** POSITION_BITS - 1)
        self._grid = (low, step)
        mesh_id = super()._write_mesh(mesh)
        frame = np.diag([step, step, step, 1.0])
        frame[:3, 3] = low
        self.frames[mesh_id] = frame
        return mesh_id

    def _mesh_frame(self, mesh_id: int) -> np.ndarray:
        return self.frames[mesh_id]

    def _primitive(self, prim: Primitive) -> dict:
        low, step = self._grid
        grid = np.round((prim.positions.astype(np.float64) - low) / step).astype(np.uint16)
        attributes = {"POSITION": self._vertex_accessor(_padded(grid), UINT16, "VEC3", bounds=grid)}
        if prim.normals is not None:
            normals = np.round(np.clip(prim.normals, -1, 1) * 127).astype(np.int8)
            attributes["NORMAL"] = self._vertex_accessor(_padded(normals), BYTE, "VEC3", normalized=True)
        if prim.uvs is not None:
            if prim.uvs.min() >= 0 and prim.uvs.max() <= 1:
                uvs = np.round(prim.uvs * 65535).astype(np.uint16)
                attributes["TEXCOORD_0"] = self._vertex_accessor(uvs, UINT16, "VEC2", normalized=True)
            else:
                attributes["TEXCOORD_0"] = self._vertex_accessor(prim.uvs.astype(np.float32), FLOAT, "VEC2")
        small = prim.vertex_count < 0xFFFF
        indices = prim.faces.reshape(-1).astype(np.uint16 if small else np.uint32)
        view = self._compressed_view(meshopt.encode_index_buffer(prim.faces, prim.vertex_count), indices.nbytes,
                                     indices.itemsize, len(indices), "TRIANGLES", ELEMENT_ARRAY_BUFFER)
        self.gltf["accessors"].append({"bufferView": view, "componentType": UINT16 if small else UINT32,
                                       "count": int(len(indices)), "type": "SCALAR"})
        return {"attributes": attributes, "mode": 4, "material": int(prim.material),
                "indices": len(self.gltf["accessors"]) - 1}

    def _vertex_accessor(self, rows: np.ndarray, component: int, kind: str, normalized: bool = False,
                         bounds: np.ndarray | None = None) -> int:
        rows = np.ascontiguousarray(rows)
        stride = rows.itemsize * rows.shape[1]
        view = self._compressed_view(meshopt.encode_vertex_buffer(rows), rows.nbytes, stride, len(rows),
                                     "ATTRIBUTES", ARRAY_BUFFER)
        accessor = {"bufferView": view, "componentType": component, "count": int(len(rows)), "type": kind}
        if normalized:
            accessor["normalized"] = True
        if bounds is not None:
            accessor["min"] = [int(v) for v in bounds.min(axis=0)]
            accessor["max"] = [int(v) for v in bounds.max(axis=0)]
        self.gltf["accessors"].append(accessor)
        return len(self.gltf["accessors"]) - 1

    def _compressed_view(self, encoded: bytes, raw_length: int, stride: int, count: int, mode: str, target: int) -> int:
        self.binary.extend(b"\x00" * (-len(self.binary) % 4))
        offset = len(self.binary)
        self.binary.extend(encoded)
        self.fallback_length += -self.fallback_length % 4
        view = {"buffer": 1, "byteOffset": self.fallback_length, "byteLength": raw_length, "target": target,
                "extensions": {"EXT_meshopt_compression": {
                    "buffer": 0, "byteOffset": offset, "byteLength": len(encoded),
                    "byteStride": stride, "count": count, "mode": mode}}}
        if mode == "ATTRIBUTES":
            view["byteStride"] = stride
        self.fallback_length += raw_length
        self.gltf["bufferViews"].append(view)
        return len(self.gltf["bufferViews"]) - 1


def _padded(rows: np.ndarray) -> np.ndarray:
    """Three components padded to four: vertex streams must have a stride that is a multiple of 4."""
    return np.hstack([rows, np.zeros((len(rows), 1), dtype=rows.dtype)])


def _webp(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=WEBP_EFFORT)
    return buffer.getvalue()
