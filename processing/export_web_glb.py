"""export_web_glb: the `web` flavour — the same scene, quantised and meshopt-compressed.

For the inline 3D view only (model-viewer decodes it with the self-hosted meshopt decoder); AR
always gets the plain `ar` GLB, because Scene Viewer cannot decode EXT_meshopt_compression,
KHR_mesh_quantization, KHR_texture_transform-dequantised UVs or WebP.

- Positions: integers on a grid per mesh (KHR_mesh_quantization). The grid step is the whole
  product's extent over 14 bits, divided by the mesh's largest placement scale (or the mesh's own
  extent over 14 bits when that is coarser: the grid must fit in 14 bits), so a small part costs
  no more precision than the product needs. The grid's offset and step go into each node's
  transform, so instances still share one mesh. 14 bits over a 2 m sofa is a 0.12 mm step, far
  below what a phone shows (gltfpack's default too).
- Normals: 8-bit octahedral (the EXT_meshopt_compression OCTAHEDRAL filter, gltfpack's default):
  at most 1.2° off (8-bit x, y, z: 0.4°), but two varying bytes instead of three compress about
  a third smaller. Triangles whose every corner's normal is their face's own (flat-shaded: a box,
  most CAD panels) are written without normals: glTF requires viewers to draw such a primitive
  with flat normals, which is the same picture, and its vertices then merge across the creases.
  A part flat all over loses its normals; a part flat in places is split in two primitives (same
  material) when that saves 15% of its vertex bytes (`SPLIT_GAIN`). Issue 3: the web bytes of
  normal-less sources, where we compute crease normals and gltfpack writes none — the CAD counter
  went from 97 to 52 KB, gltfpack -cc's flat-shaded file is 27 KB.
- UVs: integers over each material's UV range, mapped back by KHR_texture_transform on that
  material's textures, as gltfpack does. The step is half a texel of the material's largest
  texture (12 bits per UV unit for 2048 px, fewer for smaller ones, never under 8), so UVs tiled
  over a wide range stay in 16 bits: where half a texel does not fit, one texel does (a fabric
  tiled 20 times at 2048 px), and only beyond that are UVs float. gltfpack spends 12 bits on the
  whole range whatever it is. Issue 3: a chair whose UVs span 24 units had float UVs at 6.5
  compressed bytes a vertex, 2.7 in 13 bits (web 187 -> 139 KB). Primitives whose material has no
  texture drop their UVs: nothing reads them.
- After quantisation, vertices that became byte-identical are merged and triangles that collapsed
  are dropped; triangles are then ordered in strips and vertices by first use — the order meshopt's
  codecs (vertex v0, index v1) compress best. That also makes gzip/brotli on the wire more effective.
- Textures: WebP (EXT_texture_webp) when it is smaller than the textures step's JPEG/PNG, which is
  kept otherwise; alpha kept when present. Or, with `web_textures` "ktx2", KTX2 (KHR_texture_basisu,
  see ktx2.py): compressed in video memory too, for texture-heavy products on phones. Both are
  encoded by the `web_textures` step, started before decimation.
The extensions used are required: the file has no uncompressed fallback (that is the `ar` file).
"""
from __future__ import annotations

import math

import numpy as np

from . import meshopt
from .export_glb import ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, FLOAT, UINT16, UINT32, GlbWriter, _pack
from .repair import face_normals
from .rows import masked_rows, remap_sources, take_rows
from .scene import Material, Mesh, Primitive, Scene
from .settings import Settings
from .web_textures import WebTextures

POSITION_BITS = 14
NORMAL_BITS = 8
FLAT_DEGREES = 0.5  # well inside the octahedral normals' own error (1.2 degrees)
# A part's flat triangles get a primitive of their own when that cuts its vertex bytes by 15%:
# below that, the second primitive's JSON and the vertices both halves repeat along their border
# ate the gain (measured: bunny, suzanne, fandisk grew 3-19% at estimates of 0.94-1.08; the CAD
# counter shrank 47% at 0.39, the stress chair 2% at 0.82).
SPLIT_GAIN = 0.85
UV_STEPS_PER_TEXEL = 2  # a UV step is half a texel: 4096 steps per unit for 2048 px (12 bits)
MIN_UV_BITS = 8  # per UV unit, however small the texture
BYTE = 5120
MESHOPT, QUANTIZATION = "EXT_meshopt_compression", "KHR_mesh_quantization"
WEBP, BASISU, TEXTURE_TRANSFORM = "EXT_texture_webp", "KHR_texture_basisu", "KHR_texture_transform"


def run(conv, settings: Settings) -> None:
    path = conv.workdir / "model.web.glb"
    writer = WebGlbWriter(conv.scene, conv.web_textures)
    path.write_bytes(writer.to_bytes())
    conv.outputs["glb_web"] = path
    dropped = [f"positions quantised to the product's extent over {POSITION_BITS} bits",
               f"normals quantised to {NORMAL_BITS}-bit octahedral",
               "vertices identical after quantisation merged, triangles that collapsed dropped"]
    if writer.quantised_uvs:
        dropped.append("UVs quantised to half a texel (at most one where UVs tile widely) over each material's UV range")
    if writer.dropped_uvs:
        dropped.append("UVs of parts whose material has no texture")
    if writer.flat_triangles:
        dropped.append(f"normals of {writer.flat_triangles:,} flat-shaded triangles: viewers compute the same face normals")
    if writer.webp_images:
        dropped.append(f"{len(writer.webp_images)} of {len(conv.scene.textures)} texture(s) re-encoded as WebP")
    if writer.ktx2_images:
        dropped.append(f"{len(writer.ktx2_images)} texture(s) re-encoded as KTX2 (ETC1S for colour, UASTC for data)")
    conv.report.note(bytes=path.stat().st_size, dropped=dropped)


class WebGlbWriter(GlbWriter):
    def __init__(self, scene: Scene, textures: WebTextures | None = None):
        """`textures`: the scene's textures being encoded (the `web_textures` step's), or None to
        encode them as WebP here, while the geometry is written."""
        super().__init__(scene)
        self._textures = textures
        self.fallback_length = 0
        self.frames: dict[int, np.ndarray] = {}
        self._grid: tuple[np.ndarray, float] | None = None
        self._world_step = world_step(scene)
        self._largest_scale = largest_scales(scene)
        self.uv_frames = {i: uv_frame(scene, i) for i, m in enumerate(scene.materials) if m.texture_slots()}
        self._material_ids = {id(m): i for i, m in enumerate(scene.materials)}
        self.webp_images: set[int] = set()
        self.ktx2_images: set[int] = set()
        self._images_written = 0
        self.quantised_uvs = self.dropped_uvs = False
        self.flat_triangles = 0

    def to_bytes(self) -> bytes:
        if self._textures is None:
            with WebTextures(self.scene) as self._textures:
                super().to_bytes()
        else:
            super().to_bytes()
        ours = [MESHOPT, QUANTIZATION]
        if self.webp_images:
            ours.append(WEBP)
        if self.ktx2_images:
            ours.append(BASISU)
        if self.quantised_uvs:
            ours.append(TEXTURE_TRANSFORM)
        self.gltf["extensionsUsed"] = sorted(set(self.gltf.get("extensionsUsed", [])) | set(ours))
        self.gltf["extensionsRequired"] = sorted(ours)
        self.gltf["buffers"] = [
            {"byteLength": len(self.binary)},
            {"byteLength": self.fallback_length, "extensions": {MESHOPT: {"fallback": True}}},
        ]
        return _pack(self.gltf, bytes(self.binary))

    def _image_json(self, texture) -> dict:
        index, self._images_written = self._images_written, self._images_written + 1
        if self._textures.kind == "ktx2":
            self.ktx2_images.add(index)
            return {"name": texture.name, "mimeType": "image/ktx2", "bufferView": self._view(self._textures.image(index))}
        webp = self._textures.image(index)
        if texture.encoded is not None and len(texture.encoded) <= len(webp):
            return super()._image_json(texture)
        self.webp_images.add(index)
        return {"name": texture.name, "mimeType": "image/webp", "bufferView": self._view(webp)}

    def _texture_json(self, image: int, sampler: int) -> dict:
        if image in self.ktx2_images:
            return {"sampler": sampler, "extensions": {BASISU: {"source": image}}}
        if image not in self.webp_images:
            return super()._texture_json(image, sampler)
        return {"sampler": sampler, "extensions": {WEBP: {"source": image}}}

    def _material_json(self, m: Material) -> dict:
        out = super()._material_json(m)
        frame = self.uv_frames.get(self._material_ids[id(m)])
        if frame is None or frame.scale is None:
            return out
        transform = {TEXTURE_TRANSFORM: {"offset": [float(v) for v in frame.offset],
                                         "scale": [float(v) for v in frame.scale]}}
        for holder in (out["pbrMetallicRoughness"], out):
            for slot, info in holder.items():
                if slot.endswith("Texture"):
                    info["extensions"] = transform
        return out

    def _write_mesh(self, mesh: Mesh) -> int:
        low = np.min([p.positions.min(axis=0) for p in mesh.primitives], axis=0).astype(np.float64)
        high = np.max([p.positions.max(axis=0) for p in mesh.primitives], axis=0).astype(np.float64)
        step = max(float((high - low).max()) / (2 ** POSITION_BITS - 1),
                   self._world_step / self._largest_scale.get(id(mesh), 1.0))
        self._grid = (low, step)
        primitives = [written for prim in mesh.primitives for written in self._shaded_primitives(prim)]
        # A part smaller than one grid step collapses entirely: nothing of it would be drawn.
        kept = [p for p in primitives if p is not None]
        self.gltf["meshes"].append({"name": mesh.name,
                                    "primitives": kept or [self._primitive(mesh.primitives[0], weld=False)]})
        mesh_id = len(self.gltf["meshes"]) - 1
        frame = np.diag([step, step, step, 1.0])
        frame[:3, 3] = low
        self.frames[mesh_id] = frame
        return mesh_id

    def _mesh_frame(self, mesh_id: int) -> np.ndarray:
        return self.frames[mesh_id]

    def _shaded_primitives(self, prim: Primitive) -> list[dict | None]:
        """`prim` written as one primitive, or as two when some of its triangles are flat-shaded
        (every corner normal is the face's own): those go in a primitive without normals, which
        viewers draw with the same face normals, and their vertices merge across the creases."""
        if prim.normals is None:
            return [self._primitive(prim)]
        flat = flat_faces(prim)
        if flat.all():
            self.flat_triangles += len(flat)
            return [self._primitive(prim, normals=False)]
        if not flat.any() or _vertex_bytes(prim, flat) > SPLIT_GAIN * _vertex_bytes(prim, None):
            return [self._primitive(prim)]
        self.flat_triangles += int(flat.sum())
        return [self._primitive(_faces_of(prim, flat), normals=False), self._primitive(_faces_of(prim, ~flat))]

    def _primitive(self, prim: Primitive, weld: bool = True, normals: bool = True) -> dict | None:
        low, step = self._grid
        grid = np.round((prim.positions.astype(np.float64) - low) / step).astype(np.uint16)
        streams = {"POSITION": _padded(grid)}
        if prim.normals is not None and normals:
            streams["NORMAL"] = meshopt.encode_filter_oct(prim.normals, NORMAL_BITS)
        frame = self.uv_frames.get(prim.material)
        if prim.uvs is not None and frame is None:
            self.dropped_uvs = True
        elif prim.uvs is not None:
            streams["TEXCOORD_0"] = frame.encode(prim.uvs)
            self.quantised_uvs = self.quantised_uvs or frame.scale is not None
        faces, streams = codec_order(prim.faces, streams, weld)
        if not len(faces):
            return None
        grid = streams["POSITION"][:, :3]
        attributes = {"POSITION": self._vertex_accessor(streams["POSITION"], UINT16, "VEC3", bounds=grid)}
        if "NORMAL" in streams:
            attributes["NORMAL"] = self._vertex_accessor(streams["NORMAL"], BYTE, "VEC3", normalized=True,
                                                         filter="OCTAHEDRAL")
        if "TEXCOORD_0" in streams:
            uvs = streams["TEXCOORD_0"]
            attributes["TEXCOORD_0"] = (self._vertex_accessor(uvs, FLOAT, "VEC2") if uvs.dtype == np.float32
                                        else self._vertex_accessor(uvs, UINT16, "VEC2", normalized=True))
        vertex_count = len(grid)
        small = vertex_count < 0xFFFF
        indices = faces.reshape(-1).astype(np.uint16 if small else np.uint32)
        view = self._compressed_view(meshopt.encode_index_buffer(faces, vertex_count), indices.nbytes,
                                     indices.itemsize, len(indices), "TRIANGLES", ELEMENT_ARRAY_BUFFER)
        self.gltf["accessors"].append({"bufferView": view, "componentType": UINT16 if small else UINT32,
                                       "count": int(len(indices)), "type": "SCALAR"})
        return {"attributes": attributes, "material": int(prim.material),
                "indices": len(self.gltf["accessors"]) - 1}

    def _vertex_accessor(self, rows: np.ndarray, component: int, kind: str, normalized: bool = False,
                         bounds: np.ndarray | None = None, filter: str | None = None) -> int:
        rows = np.ascontiguousarray(rows)
        stride = rows.itemsize * rows.shape[1]
        view = self._compressed_view(meshopt.encode_vertex_buffer(rows), rows.nbytes, stride, len(rows),
                                     "ATTRIBUTES", ARRAY_BUFFER, filter)
        accessor = {"bufferView": view, "componentType": component, "count": int(len(rows)), "type": kind}
        if normalized:
            accessor["normalized"] = True
        if bounds is not None:
            accessor["min"] = [int(v) for v in bounds.min(axis=0)]
            accessor["max"] = [int(v) for v in bounds.max(axis=0)]
        self.gltf["accessors"].append(accessor)
        return len(self.gltf["accessors"]) - 1

    def _compressed_view(self, encoded: bytes, raw_length: int, stride: int, count: int, mode: str, target: int,
                         filter: str | None = None) -> int:
        self.binary.extend(b"\x00" * (-len(self.binary) % 4))
        offset = len(self.binary)
        self.binary.extend(encoded)
        self.fallback_length += -self.fallback_length % 4
        compression = {"buffer": 0, "byteOffset": offset, "byteLength": len(encoded),
                       "byteStride": stride, "count": count, "mode": mode}
        if filter:
            compression["filter"] = filter
        view = {"buffer": 1, "byteOffset": self.fallback_length, "byteLength": raw_length, "target": target,
                "extensions": {MESHOPT: compression}}
        if mode == "ATTRIBUTES":
            view["byteStride"] = stride
        self.fallback_length += raw_length
        self.gltf["bufferViews"].append(view)
        return len(self.gltf["bufferViews"]) - 1


def flat_faces(prim: Primitive) -> np.ndarray:
    """Per triangle: is every corner's normal its face's own, within FLAT_DEGREES (a zero-area face
    has no direction of its own, so it keeps its normals)."""
    face, _ = face_normals(prim.positions, prim.faces)
    corners = take_rows(prim.normals.astype(np.float64), prim.faces.reshape(-1)).reshape(-1, 3, 3)
    return np.all(np.einsum("fkj,fj->fk", corners, face) > math.cos(math.radians(FLAT_DEGREES)), axis=1)


def _vertex_bytes(prim: Primitive, flat: np.ndarray | None) -> int:
    """Quantised vertex bytes (before compression) of `prim` written whole (`flat` None), or split
    into its `flat` triangles without normals and the others with them."""
    def stored(faces: np.ndarray, normals: bool) -> int:
        columns = [prim.positions] + ([prim.normals] if normals else []) + ([prim.uvs] if prim.uvs is not None else [])
        vertices = meshopt.unique_vertex_remap(faces, np.hstack(columns).astype(np.float32))[1] if len(faces) else 0
        return vertices * (8 + 4 * normals + 4 * (prim.uvs is not None))

    faces = np.ascontiguousarray(prim.faces, dtype=np.uint32)
    if flat is None:
        return stored(faces, True)
    return stored(masked_rows(faces, flat), False) + stored(masked_rows(faces, ~flat), True)


def _faces_of(prim: Primitive, chosen: np.ndarray) -> Primitive:
    """The same vertices with only the `chosen` triangles (`codec_order` drops unused vertices)."""
    return Primitive(prim.positions, masked_rows(prim.faces, chosen), prim.material, prim.normals, prim.uvs)


def world_step(scene: Scene) -> float:
    """The position grid step the whole product needs: its world extent over POSITION_BITS
    (0 for a scene that places nothing: each mesh then uses its own extent)."""
    if not any(prim.vertex_count for _, prim in scene.world_primitives()):
        return 0.0
    low, high = scene.bounds()
    return max(float((high - low).max()), 1e-9) / (2 ** POSITION_BITS - 1)


def largest_scales(scene: Scene) -> dict[int, float]:
    """id(mesh) → the largest scale any of its instances applies (a mesh shown larger needs a finer grid)."""
    scales: dict[int, float] = {}
    for inst in scene.instances:
        mesh = scene.meshes[inst.mesh]
        scale = float(np.linalg.norm(inst.matrix[:3, :3], axis=0).max())
        scales[id(mesh)] = max(scales.get(id(mesh), 0.0), scale)
    return scales


class UvFrame:
    """How one material's UVs are stored: integers of `bits` bits over [offset, offset + range] in
    a normalised uint16, read back by KHR_texture_transform's `scale` and `offset`; or float32
    (`scale` is None) when even a one-texel step over that range needs more than 16 bits.
    `texel_bits` is the bits per UV unit that make a step half a texel."""

    def __init__(self, low: np.ndarray, high: np.ndarray, texel_bits: int):
        extent = np.maximum(high - low, 1e-6)
        bits = texel_bits + max(0, math.ceil(math.log2(float(extent.max()))))
        if bits == 17:  # one texel per step still fits 16 bits
            bits = 16
        self.offset = low
        self.levels = 2 ** bits - 1
        self.extent = extent
        self.scale = extent * 65535 / self.levels if bits <= 16 else None

    def encode(self, uvs: np.ndarray) -> np.ndarray:
        if self.scale is None:
            return np.ascontiguousarray(uvs, dtype=np.float32)
        return np.round((uvs.astype(np.float64) - self.offset) / self.extent * self.levels).astype(np.uint16)


def uv_frame(scene: Scene, material: int) -> UvFrame | None:
    """The UV frame over every primitive drawn with `material` (one transform per material)."""
    uvs = [p.uvs for mesh in scene.meshes for p in mesh.primitives if p.material == material and p.uvs is not None]
    if not uvs:
        return None
    return UvFrame(np.min([u.min(axis=0) for u in uvs], axis=0).astype(np.float64),
                   np.max([u.max(axis=0) for u in uvs], axis=0).astype(np.float64),
                   texel_bits(scene, scene.materials[material]))


def texel_bits(scene: Scene, material: Material) -> int:
    """Bits per UV unit for a step of half a texel of the material's largest texture."""
    edge = max(max(scene.textures[t].image.size) for t in material.texture_slots().values())
    return max(MIN_UV_BITS, math.ceil(math.log2(UV_STEPS_PER_TEXEL * edge)))


def codec_order(faces: np.ndarray, streams: dict[str, np.ndarray], weld: bool = True,
                ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Merge vertices whose quantised streams are byte-identical and drop the triangles that
    collapsed (unless `weld` is off), then order triangles in strips and vertices by first use,
    dropping unused ones: the order meshopt's codecs compress best."""
    faces = np.ascontiguousarray(faces, dtype=np.uint32)
    vertex_count = len(next(iter(streams.values())))
    if weld:
        rows = np.hstack([s.view(np.uint8).reshape(vertex_count, -1) for s in streams.values()])
        remap, vertex_count = meshopt.unique_vertex_remap(faces, rows)
        streams = {k: _gathered(s, remap, vertex_count) for k, s in streams.items()}
        faces = remap[faces]
        collapsed = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 2] == faces[:, 0])
        faces = masked_rows(faces, ~collapsed)
    faces = meshopt.optimize_vertex_cache_strip(faces, vertex_count)
    remap, vertex_count = meshopt.vertex_fetch_remap(faces, vertex_count)
    return remap[faces], {k: _gathered(s, remap, vertex_count) for k, s in streams.items()}


def _gathered(rows: np.ndarray, remap: np.ndarray, count: int) -> np.ndarray:
    """`rows` moved to their new indices under an old→new `remap` (rows mapped alike are equal)."""
    return take_rows(rows, remap_sources(remap, count))


def _padded(rows: np.ndarray) -> np.ndarray:
    """Three components padded to four: vertex streams must have a stride that is a multiple of 4."""
    return np.hstack([rows, np.zeros((len(rows), 1), dtype=rows.dtype)])
