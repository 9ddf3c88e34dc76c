"""load: parse the model into a `Scene` that keeps node transforms, PBR materials, UVs, normals
and textures.

Loaders are a registry keyed by format (trimesh style). Parsing is trimesh's — a well-kept reader
for glTF, OBJ+MTL, STL and PLY — but three things are ours, because trimesh is forgiving where we
must not be:
- every file a model names goes through `ingest.resolve_reference` (our `SafeResolver`), and a
  refused reference fails the job even though trimesh would carry on without it;
- image headers are checked against the pixel cap and the allowed formats before any decoding,
  and Pillow's decompression-bomb warning is an error;
- counts are pre-scanned (OBJ faces, PLY header, STL size) before a parser allocates anything.
Whatever the source carries that we drop (extensions, vertex colours, points, lines) is a warning.

The other catalog formats have a module each, registered in `LOADERS` at the end: FBX (ufbx,
load_fbx), COLLADA (trimesh + pycollada behind a DTD check, load_collada), 3DS (Assimp,
load_3ds), STEP (OpenCASCADE via cascadio, load_step) and USD/USDZ (usd-core, every asset path
checked before composing, load_usd). Each records what the file states about its unit and up
axis in `upload.stated` for `normalize`.
"""
from __future__ import annotations

import io
import json
import re
import struct
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import trimesh
from PIL import Image

from . import errors, gltf_details, load_3ds, load_collada, load_fbx, load_step, load_usd
from .errors import ConversionError
from .ingest import Upload, resolve_reference
from .report import Report
from .scene import Instance, Material, Mesh, Primitive, Scene, Texture
from .settings import Limits, Settings

UNIFORM_TEXTURE_EDGE = 4
ALLOWED_IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
DEFAULT_MATERIAL = Material(name="default", base_color_factor=(0.8, 0.8, 0.8, 1.0),
                            metallic_factor=0.0, roughness_factor=0.7)
# glTF features trimesh does not carry into its scene; each becomes a warning when present.
_GLTF_IGNORED = {
    "KHR_materials_variants": "material variants dropped (only the default look is kept)",
    "KHR_draco_mesh_compression": "Draco-compressed meshes cannot be read",
    "EXT_meshopt_compression": "meshopt-compressed data cannot be read",
    "KHR_texture_basisu": "KTX2 textures cannot be read",
}


def run(conv, settings: Settings) -> None:
    upload: Upload = conv.upload
    _precheck(upload, settings.limits, conv.report)
    resolver = SafeResolver(upload, settings.limits)
    scene = LOADERS[upload.format](upload, resolver, settings.limits, conv.report)
    resolver.raise_first_refusal()
    for text in resolver.missing:
        conv.report.warn(f"'{text}' is named by the model but not in the upload: it was skipped")
    if scene.triangle_count == 0:
        raise ConversionError(errors.NO_GEOMETRY, "The file holds no triangles to show (points or lines only, or empty).")
    if scene.triangle_count > settings.limits.input_triangles:
        raise ConversionError(
            errors.TOO_MANY_TRIANGLES,
            f"The model has {scene.triangle_count:,} triangles; at most {settings.limits.input_triangles:,} are accepted.",
        )
    conv.scene = scene


class SafeResolver(trimesh.resolvers.Resolver):
    """trimesh's view of the upload: only files inside it, images checked before decoding."""

    def __init__(self, upload: Upload, limits: Limits):
        self.upload = upload
        self.limits = limits
        self.refused: list[ConversionError] = []
        self.missing: list[str] = []

    def get(self, name: str) -> bytes:
        try:
            path = resolve_reference(self.upload.directory, self.upload.root.parent, name,
                                     by_name=self.upload.format in BY_NAME_FORMATS)
        except ConversionError as exc:
            (self.missing.append(name) if exc.code == errors.REFERENCE_MISSING else self.refused.append(exc))
            raise FileNotFoundError(name) from None
        data = path.read_bytes()
        if _looks_like_image(data):
            try:
                check_image_header(data, name, self.limits)
            except ConversionError as exc:
                self.refused.append(exc)
                raise FileNotFoundError(name) from None
        return data

    def namespaced(self, namespace: str) -> "SafeResolver":
        return self

    def keys(self):
        return []

    def write(self, name, data):
        raise PermissionError("the upload is read-only")

    def raise_first_refusal(self) -> None:
        if self.refused:
            raise self.refused[0]


def _is_uniform(image: Image.Image) -> bool:
    return all(low == high for low, high in image.convert("RGBA").getextrema())


def _looks_like_image(data: bytes) -> bool:
    return data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff" or data[:4] in (
        b"RIFF", b"GIF8", b"BM\x00\x00", b"II*\x00", b"MM\x00*") or data[:2] == b"BM"


def check_image_header(data: bytes, name: str, limits: Limits) -> None:
    """Refuse an image before it is decoded: only PNG/JPEG/WebP, pixel count under the cap."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind, (width, height) = probe.format, probe.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ConversionError(errors.TEXTURE_TOO_LARGE, f"Texture '{name}' has more pixels than we accept.")
    except Exception:
        raise ConversionError(errors.TEXTURE_UNSUPPORTED, f"Texture '{name}' is not a readable image.")
    if kind not in ALLOWED_IMAGE_FORMATS:
        raise ConversionError(errors.TEXTURE_UNSUPPORTED, f"Texture '{name}' is {kind}; convert it to PNG or JPEG.")
    if width * height > limits.texture_pixels:
        raise ConversionError(
            errors.TEXTURE_TOO_LARGE,
            f"Texture '{name}' is {width} x {height} pixels; at most {limits.texture_pixels:,} pixels are accepted.",
        )


# --- pre-scans -------------------------------------------------------------------------------

def _precheck(upload: Upload, limits: Limits, report: Report) -> None:
    PRECHECKS.get(upload.format, lambda *_: None)(upload.root, limits, report)


def _precheck_gltf(root: Path, limits: Limits, report: Report) -> None:
    gltf, binary = read_gltf_json(root, limits)
    version = str(gltf.get("asset", {}).get("version", ""))
    if not version.startswith("2"):
        raise ConversionError(errors.UNSUPPORTED_FORMAT, f"glTF {version or '(no version)'} is not supported; export glTF 2.0.")
    for name in gltf.get("extensionsRequired", []):
        if name in _GLTF_IGNORED:
            raise ConversionError(errors.UNSUPPORTED_FORMAT, f"The file requires {name}: {_GLTF_IGNORED[name]}; export it without compression.")
    for name in gltf.get("extensionsUsed", []):
        if name in _GLTF_IGNORED:
            report.warn(f"glTF {name}: {_GLTF_IGNORED[name]}")
        elif name.startswith("KHR_materials_") and name != "KHR_materials_pbrSpecularGlossiness":
            report.warn(f"glTF {name}: material extension dropped")
    for feature in ("animations", "skins"):
        if gltf.get(feature):
            report.warn(f"glTF {feature} dropped: the product is shown in its rest pose")
    if binary is not None:
        _check_embedded_images(gltf, binary, limits)


def read_gltf_json(root: Path, limits: Limits) -> tuple[dict, bytes | None]:
    """The JSON of a .gltf or .glb (and the GLB's binary chunk), with length checks first."""
    data = root.read_bytes()
    binary = None
    if data[:4] == b"glTF":
        if len(data) < 20:
            raise ConversionError(errors.CORRUPT_FILE, "The GLB is truncated (shorter than its header).")
        _, version, length = struct.unpack_from("<4sII", data)
        chunk_length, chunk_type = struct.unpack_from("<II", data, 12)
        if version != 2:
            raise ConversionError(errors.UNSUPPORTED_FORMAT, f"GLB version {version} is not supported; export glTF 2.0.")
        if length != len(data) or chunk_type != 0x4E4F534A or 20 + chunk_length > len(data):
            raise ConversionError(errors.CORRUPT_FILE, "The GLB's header lengths do not match the file (truncated or corrupt).")
        text = data[20:20 + chunk_length]
        rest = 20 + chunk_length
        if rest + 8 <= len(data):
            bin_length, _ = struct.unpack_from("<II", data, rest)
            if rest + 8 + bin_length > len(data):
                raise ConversionError(errors.CORRUPT_FILE, "The GLB's binary chunk runs past the end of the file.")
            binary = data[rest + 8:rest + 8 + bin_length]
    else:
        text = data
    if len(text) > limits.gltf_json_bytes:
        raise ConversionError(errors.INPUT_TOO_LARGE, f"The glTF JSON is larger than {limits.gltf_json_bytes:,} bytes.")
    try:
        gltf = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ConversionError(errors.CORRUPT_FILE, "The glTF JSON cannot be parsed.")
    if not isinstance(gltf, dict):
        raise ConversionError(errors.CORRUPT_FILE, "The glTF JSON is not an object.")
    return gltf, binary


def _check_embedded_images(gltf: dict, binary: bytes, limits: Limits) -> None:
    views = gltf.get("bufferViews", [])
    for index, image in enumerate(gltf.get("images", [])):
        view = image.get("bufferView") if isinstance(image, dict) else None
        if not isinstance(view, int) or not 0 <= view < len(views):
            continue
        start = int(views[view].get("byteOffset", 0))
        check_image_header(binary[start:start + int(views[view].get("byteLength", 0))],
                           image.get("name") or f"image {index}", limits)


def _precheck_obj(root: Path, limits: Limits, report: Report) -> None:
    faces = 0
    with root.open("rb") as fh:
        while block := fh.read(1 << 20):
            faces += block.count(b"\nf ")
    if faces > limits.input_triangles:
        raise ConversionError(errors.TOO_MANY_TRIANGLES, f"The OBJ declares {faces:,} faces; at most {limits.input_triangles:,} triangles are accepted.")


def _precheck_ply(root: Path, limits: Limits, report: Report) -> None:
    with root.open("rb") as fh:
        header = fh.read(4096)
    for kind, count in re.findall(rb"element\s+(\w+)\s+(\d+)", header.split(b"end_header")[0]):
        if int(count) > limits.input_triangles * 3:
            raise ConversionError(errors.TOO_MANY_TRIANGLES, f"The PLY declares {int(count):,} {kind.decode(errors='replace')} elements; that is over the limit.")


def _precheck_stl(root: Path, limits: Limits, report: Report) -> None:
    size = root.stat().st_size
    with root.open("rb") as fh:
        head = fh.read(84)
    if head[:5].lower() != b"solid" and len(head) == 84:
        count = int.from_bytes(head[80:84], "little")
        if size != 84 + 50 * count:
            raise ConversionError(errors.CORRUPT_FILE, f"The binary STL declares {count:,} triangles but its size does not match.")
    elif size // 100 > limits.input_triangles:
        raise ConversionError(errors.TOO_MANY_TRIANGLES, "The ASCII STL is too large to be under the triangle limit.")


PRECHECKS: dict[str, Callable[[Path, Limits, Report], None]] = {
    "glb": _precheck_gltf, "gltf": _precheck_gltf, "obj": _precheck_obj,
    "ply": _precheck_ply, "stl": _precheck_stl,
}


# --- trimesh → Scene -----------------------------------------------------------------------------

def _load_with_trimesh(upload: Upload, resolver: SafeResolver, limits: Limits, report: Report,
                       data: bytes | None = None) -> Scene:
    Image.MAX_IMAGE_PIXELS = limits.texture_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # From memory, not a named file: trimesh would name meshes after the server path.
            loaded = trimesh.load(io.BytesIO(upload.root.read_bytes() if data is None else data), file_type=upload.format,
                                  resolver=resolver, process=False, force="scene")
        except ConversionError:
            raise
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:
            resolver.raise_first_refusal()
            raise ConversionError(errors.CORRUPT_FILE, f"The {upload.format.upper()} file cannot be parsed ({type(exc).__name__}).")
    return SceneBuilder(report, limits).build(loaded)


class SceneBuilder:
    """Turns a trimesh.Scene into our Scene, sharing materials and textures by identity."""

    def __init__(self, report: Report, limits: Limits):
        self.report = report
        self.limits = limits
        self.scene = Scene()
        self._materials: dict[int, int] = {}
        self._textures: dict[int, int] = {}
        self._meshes: dict[str, int] = {}

    def build(self, loaded: trimesh.Scene) -> Scene:
        for node in loaded.graph.nodes_geometry:
            matrix, name = loaded.graph[node]
            geometry = loaded.geometry[name]
            if not isinstance(geometry, trimesh.Trimesh) or len(geometry.faces) == 0:
                self.report.warn(f"'{name}' is not a triangle mesh (points or lines): dropped")
                continue
            if name not in self._meshes:
                self._meshes[name] = len(self.scene.meshes)
                self.scene.meshes.append(Mesh(str(name), [self._primitive(geometry, str(name))]))
            self.scene.instances.append(Instance(str(node), self._meshes[name], np.array(matrix, dtype=np.float64)))
        return self.scene

    def _primitive(self, geometry: trimesh.Trimesh, name: str) -> Primitive:
        positions = np.asarray(geometry.vertices, dtype=np.float32)
        faces = np.asarray(geometry.faces, dtype=np.int64)
        if faces.size and (faces.min() < 0 or faces.max() >= len(positions)):
            raise ConversionError(errors.CORRUPT_FILE, f"Mesh '{name}' has face indices outside its vertex list.")
        if not np.isfinite(positions).all():
            raise ConversionError(errors.CORRUPT_FILE, f"Mesh '{name}' has NaN or infinite coordinates.")
        normals = None
        if "vertex_normals" in geometry._cache.cache:
            normals = np.asarray(geometry.vertex_normals, dtype=np.float32)
        visual = geometry.visual
        uvs = None
        material = None
        if isinstance(visual, trimesh.visual.TextureVisuals):
            if visual.uv is not None and len(visual.uv) == len(positions):
                uvs = np.asarray(visual.uv, dtype=np.float32).copy()
                uvs[:, 1] = 1.0 - uvs[:, 1]  # trimesh flips v to OpenGL's convention; back to glTF's
            material = visual.material
        elif visual is not None and visual.kind == "vertex":
            self.report.warn(f"Vertex colours of '{name}' dropped (only material colours are carried)")
        return Primitive(positions, faces.astype(np.uint32), self._material(material, uvs is not None),
                         normals=normals, uvs=uvs)

    def _material(self, source, has_uvs: bool) -> int:
        key = id(source)
        if key not in self._materials:
            self._materials[key] = len(self.scene.materials)
            self.scene.materials.append(self._convert_material(source, has_uvs))
        return self._materials[key]

    def _convert_material(self, source, has_uvs: bool) -> Material:
        if isinstance(source, trimesh.visual.material.PBRMaterial):
            return self._from_pbr(source, has_uvs)
        if isinstance(source, trimesh.visual.material.SimpleMaterial):
            return self._from_simple(source, has_uvs)
        return Material(**{**DEFAULT_MATERIAL.__dict__})

    def _from_pbr(self, m, has_uvs: bool) -> Material:
        base = m.baseColorFactor
        return Material(
            name=m.name or "material",
            base_color_factor=tuple(float(c) / 255.0 for c in base) if base is not None else (1.0, 1.0, 1.0, 1.0),
            base_color_texture=self._texture(m.baseColorTexture, m.name, "baseColor", has_uvs),
            metallic_factor=1.0 if m.metallicFactor is None else float(m.metallicFactor),
            roughness_factor=1.0 if m.roughnessFactor is None else float(m.roughnessFactor),
            metallic_roughness_texture=self._texture(m.metallicRoughnessTexture, m.name, "metallicRoughness", has_uvs),
            normal_texture=self._texture(m.normalTexture, m.name, "normal", has_uvs),
            occlusion_texture=self._texture(m.occlusionTexture, m.name, "occlusion", has_uvs),
            emissive_factor=tuple(float(c) for c in (m.emissiveFactor if m.emissiveFactor is not None else (0, 0, 0)))[:3],
            emissive_texture=self._texture(m.emissiveTexture, m.name, "emissive", has_uvs),
            alpha_mode=(m.alphaMode or "OPAQUE"),
            alpha_cutoff=0.5 if m.alphaCutoff is None else float(m.alphaCutoff),
            double_sided=bool(m.doubleSided),
        )

    def _from_simple(self, m, has_uvs: bool) -> Material:
        diffuse = np.asarray(m.diffuse, dtype=np.float64) / 255.0 if m.diffuse is not None else np.ones(4)
        image = m.image
        if image is not None and max(image.size) <= UNIFORM_TEXTURE_EDGE and _is_uniform(image):
            # trimesh invents a tiny grey texture for UVs without a material: a colour, not a texture
            diffuse = np.asarray(image.convert("RGBA").getpixel((0, 0)), dtype=np.float64) / 255.0
            image = None
        texture = self._texture(image, m.name, "map_Kd", has_uvs)
        color = (1.0, 1.0, 1.0, float(diffuse[3])) if texture is not None else tuple(float(c) for c in diffuse)
        shininess = getattr(m, "glossiness", None)
        roughness = 0.8 if shininess is None else float(np.clip(1.0 - np.sqrt(float(shininess) / 1000.0), 0.1, 1.0))
        alpha_mode = "BLEND" if color[3] < 0.999 else "OPAQUE"
        return Material(name=m.name or "material", base_color_factor=color, base_color_texture=texture,
                        metallic_factor=0.0, roughness_factor=roughness, alpha_mode=alpha_mode)

    def _texture(self, image, material: str | None, slot: str, has_uvs: bool) -> int | None:
        if image is None:
            return None
        if not has_uvs:
            self.report.warn(f"Material '{material}': {slot} texture dropped (the mesh has no UVs)")
            return None
        key = id(image)
        if key not in self._textures:
            if image.width * image.height > self.limits.texture_pixels:
                raise ConversionError(errors.TEXTURE_TOO_LARGE, f"A texture of material '{material}' is {image.width} x {image.height} pixels; over the limit.")
            image.load()
            name = Path(str(image.info.get("file_path") or f"{material or 'texture'}_{slot}")).stem
            self._textures[key] = len(self.scene.textures)
            self.scene.textures.append(Texture(name=name, image=image))
        return self._textures[key]


LOADERS: dict[str, Callable[[Upload, SafeResolver, Limits, Report], Scene]] = {
    fmt: _load_with_trimesh for fmt in ("glb", "gltf", "obj", "stl", "ply")
}


def _load_gltf(upload: Upload, resolver: SafeResolver, limits: Limits, report: Report) -> Scene:
    """glTF through trimesh, with what its reader drops (texture transforms, wrap modes,
    material extensions) put back or reported by `gltf_details`."""
    gltf, _ = read_gltf_json(upload.root, limits)
    return gltf_details.load(upload.root.read_bytes(), gltf, report,
                             lambda data: _load_with_trimesh(upload, resolver, limits, report, data))


LOADERS.update(glb=_load_gltf, gltf=_load_gltf)

# Formats beyond trimesh's, each in a module named for it (issue 5).
LOADERS.update(fbx=load_fbx.load, dae=load_collada.load, **{"3ds": load_3ds.load},
               step=load_step.load, usd=load_usd.load)
# Files that carry the exporter's own disk paths (Windows ones, often): matched by file name.
BY_NAME_FORMATS = ("obj", "fbx", "dae", "3ds")
