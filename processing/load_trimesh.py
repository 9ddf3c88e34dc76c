"""load_trimesh: OBJ+MTL, STL and PLY through trimesh's readers (and, through their own modules,
COLLADA and the GLB that STEP is tessellated into), turned into our `Scene`.

trimesh reads the file from memory behind the upload's `SafeResolver` (see `load`), so every
file it asks for is checked the way `load` describes; `SceneBuilder` then turns its scene graph
into ours, sharing meshes, materials and textures by identity, and reports what it drops
(points, lines, vertex colours, textures of meshes without UVs).

Design history: this was the body of `load` until issue 3 — importing trimesh costs about 1.5 s,
so it moved here, imported only for the formats that need it; glTF has its own reader
(`load_gltf`).
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from . import errors
from .errors import ConversionError
from .ingest import Upload
from .load import DEFAULT_MATERIAL, SafeResolver
from .report import Report
from .scene import Instance, Material, Mesh, Primitive, Scene, Texture
from .settings import Limits

UNIFORM_TEXTURE_EDGE = 4


def load(upload: Upload, resolver: SafeResolver, limits: Limits, report: Report, data: bytes | None = None) -> Scene:
    """The upload (or `data`, bytes of the upload's format) read by trimesh into our Scene."""
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


def _is_uniform(image: Image.Image) -> bool:
    return all(low == high for low, high in image.convert("RGBA").getextrema())
