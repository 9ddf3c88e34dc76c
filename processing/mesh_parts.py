"""Assemble a `Scene` from the plain arrays a native reader hands over (FBX, 3DS, USD).

trimesh builds our scene for OBJ, STL and PLY (see load_trimesh.SceneBuilder); the native readers give
polygons, per-corner attributes and material descriptions instead. This module is the one place
those become our primitives, materials and textures, with the same checks: indices in range,
finite coordinates, images checked from their header before decoding, and textures dropped (with a
warning) when the mesh has no UVs to map them.

Per-corner ("face-varying") attributes are kept by giving every polygon corner its own vertex;
the repair step's weld merges the corners that are equal in every attribute afterwards.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import errors
from .errors import ConversionError
from .report import Report
from .scene import Instance, Material, Mesh, Primitive, Scene, Texture
from .settings import Limits


@dataclass
class MaterialSpec:
    """What a reader knows about a material; texture bytes are the image file's own bytes."""

    name: str
    color: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 1.0)
    texture: bytes | None = None
    texture_name: str = ""
    metallic: float = 0.0
    roughness: float = 0.7


def fan_triangles(counts: np.ndarray) -> np.ndarray:
    """Triangles (as corner indices) for polygons of `counts` corners, fanned from each first corner.

    Exact for convex polygons, which is what exporters write for product models; a concave n-gon
    may be filled across its notch (the native readers here expose no ear-clipping).
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size and counts.min() < 3:
        counts = np.where(counts < 3, 0, counts)  # points and lines carry no surface
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if counts.size else counts
    per_polygon = np.maximum(counts - 2, 0)
    first = np.repeat(starts, per_polygon)
    step = np.arange(per_polygon.sum()) - np.repeat(np.cumsum(per_polygon) - per_polygon, per_polygon)
    return np.stack([first, first + step + 1, first + step + 2], axis=1)


class SceneAssembler:
    """Collects meshes, placements, materials and textures into a `Scene`."""

    def __init__(self, report: Report, limits: Limits):
        self.report = report
        self.limits = limits
        self.scene = Scene()
        self._materials: dict[object, int] = {}
        self._textures: dict[bytes, int] = {}

    def material(self, key: object, spec: MaterialSpec, has_uvs: bool) -> int:
        """The index of the material for `key` (one per key and UV presence)."""
        full_key = (key, has_uvs)
        if full_key not in self._materials:
            texture = self._texture(spec, has_uvs)
            color = (1.0, 1.0, 1.0, spec.color[3]) if texture is not None else spec.color
            self._materials[full_key] = len(self.scene.materials)
            self.scene.materials.append(Material(
                name=spec.name or "material", base_color_factor=tuple(float(c) for c in color),
                base_color_texture=texture, metallic_factor=float(spec.metallic),
                roughness_factor=float(spec.roughness),
                alpha_mode="BLEND" if color[3] < 0.999 else "OPAQUE"))
        return self._materials[full_key]

    def _texture(self, spec: MaterialSpec, has_uvs: bool) -> int | None:
        if spec.texture is None:
            return None
        if not has_uvs:
            self.report.warn(f"Material '{spec.name}': base colour texture dropped (the mesh has no UVs)")
            return None
        if spec.texture not in self._textures:
            from .preflight import check_image_header  # the one image gate, shared with trimesh's loaders
            check_image_header(spec.texture, spec.texture_name or spec.name, self.limits)
            Image.MAX_IMAGE_PIXELS = self.limits.texture_pixels
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(spec.texture))
                image.load()
            name = (spec.texture_name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
                    or f"{spec.name}_baseColor")
            self._textures[spec.texture] = len(self.scene.textures)
            self.scene.textures.append(Texture(name=name, image=image))
        return self._textures[spec.texture]

    def mesh(self, name: str, primitives: list[Primitive]) -> int:
        for prim in primitives:
            _check(prim, name)
        self.scene.meshes.append(Mesh(name, primitives))
        return len(self.scene.meshes) - 1

    def place(self, name: str, mesh: int, matrix: np.ndarray) -> None:
        matrix = np.asarray(matrix, dtype=np.float64)
        if not np.isfinite(matrix).all():
            raise ConversionError(errors.CORRUPT_FILE, f"Node '{name}' has a NaN or infinite transform.")
        self.scene.instances.append(Instance(name, mesh, matrix))


def corner_primitive(positions: np.ndarray, corner_points: np.ndarray, triangles: np.ndarray,
                     material: int, uvs: np.ndarray | None = None,
                     normals: np.ndarray | None = None) -> Primitive:
    """A primitive with one vertex per polygon corner.

    `corner_points[c]` is the point index of corner c; `uvs`/`normals` are per corner (already in
    glTF's convention: v down); `triangles` index corners.
    """
    corner_points = np.asarray(corner_points, dtype=np.int64)
    if corner_points.size and (corner_points.min() < 0 or corner_points.max() >= len(positions)):
        raise ConversionError(errors.CORRUPT_FILE, "A polygon refers to a point the mesh does not have.")
    used = np.unique(triangles) if len(triangles) else np.zeros(0, dtype=np.int64)
    remap = np.full(len(corner_points), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return Primitive(
        positions=np.asarray(positions, dtype=np.float64)[corner_points[used]].astype(np.float32),
        faces=remap[triangles].astype(np.uint32),
        material=material,
        normals=None if normals is None else np.asarray(normals, dtype=np.float32)[used],
        uvs=None if uvs is None else np.asarray(uvs, dtype=np.float32)[used],
    )


def _check(prim: Primitive, name: str) -> None:
    if not np.isfinite(prim.positions).all():
        raise ConversionError(errors.CORRUPT_FILE, f"Mesh '{name}' has NaN or infinite coordinates.")
    for attribute in (prim.normals, prim.uvs):
        if attribute is not None and len(attribute) != len(prim.positions):
            raise ConversionError(errors.CORRUPT_FILE, f"Mesh '{name}' has attributes that do not match its vertices.")
    if prim.uvs is not None and not np.isfinite(prim.uvs).all():
        prim.uvs = None
