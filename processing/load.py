"""load: parse the model into a `Scene` that keeps node transforms, PBR materials, UVs, normals
and textures.

Loaders are a registry keyed by format (trimesh style). Parsing is trimesh's — a well-kept reader
for glTF, OBJ+MTL, STL and PLY — but three things are ours, because trimesh is forgiving where we
must not be:
- every file a model names goes through `ingest.resolve_reference` (our `SafeResolver`), and a
  refused reference fails the job even though trimesh would carry on without it;
- every image a model names goes through `preflight.check_image_header` (PNG/JPEG/WebP only, the
  pixel cap read from the header before decoding, Pillow's decompression-bomb warning an error);
- the step before this one, `preflight`, has already checked the file's structure and counts
  (glTF as the Khronos validator does, OBJ faces and indices, PLY header, STL size).
Whatever the source carries that we drop (extensions, vertex colours, points, lines) is a warning.

The other catalog formats have a module each, registered in `LOADERS` at the end: FBX (ufbx,
load_fbx), COLLADA (trimesh + pycollada behind a DTD check, load_collada), 3DS (Assimp,
load_3ds), STEP (OpenCASCADE via cascadio, load_step) and USD/USDZ (usd-core, every asset path
checked before composing, load_usd). Each records what the file states about its unit and up
axis in `upload.stated` for `normalize`.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import trimesh
from PIL import Image

from . import errors, gltf_details, load_3ds, load_collada, load_fbx, load_step, load_usd
from .errors import ConversionError
from .ingest import Upload, resolve_reference
from .preflight import check_image_header, looks_like_image, read_gltf_json
from .report import Report
from .scene import Instance, Material, Mesh, Primitive, Scene, Texture
from .settings import Limits, Settings

UNIFORM_TEXTURE_EDGE = 4
DEFAULT_MATERIAL = Material(name="default", base_color_factor=(0.8, 0.8, 0.8, 1.0),
                            metallic_factor=0.0, roughness_factor=0.7)
def run(conv, settings: Settings) -> None:
    upload: Upload = conv.upload
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
        if looks_like_image(data, name):
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


def _report_gltf_losses(gltf: dict, report: Report) -> None:
    """What the glTF carries that the scene will not (the pre-flight refused what it must)."""
    for name in gltf.get("extensionsUsed", []):
        if name.startswith("KHR_materials_") and name not in ("KHR_materials_pbrSpecularGlossiness",
                                                               "KHR_materials_variants"):
            report.warn(f"glTF {name}: material extension dropped")
    for feature in ("animations", "skins"):
        if gltf.get(feature):
            report.warn(f"glTF {feature} dropped: the product is shown in its rest pose")


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
    _report_gltf_losses(gltf, report)
    return gltf_details.load(upload.root.read_bytes(), gltf, report,
                             lambda data: _load_with_trimesh(upload, resolver, limits, report, data))


LOADERS.update(glb=_load_gltf, gltf=_load_gltf)

# Formats beyond trimesh's, each in a module named for it (issue 5).
LOADERS.update(fbx=load_fbx.load, dae=load_collada.load, **{"3ds": load_3ds.load},
               step=load_step.load, usd=load_usd.load)
# Files that carry the exporter's own disk paths (Windows ones, often): matched by file name.
BY_NAME_FORMATS = ("obj", "fbx", "dae", "3ds")
