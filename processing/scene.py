"""The in-memory scene every step works on.

Deliberately small: what a product model needs for GLB and USDZ and nothing else. Geometry is
indexed triangles per primitive; one material per primitive; textures are images owned by the
scene; the node hierarchy is flattened into instances (a mesh and its world matrix), which keeps
instancing (one mesh, many placements) without carrying a graph the exporters do not need.

Conventions (glTF's, so the GLB exporter writes data as it is):
- metres once `normalize` has run, +Y up, right-handed;
- UVs with (0, 0) at the top-left of the image (glTF); USD flips v on export;
- colour factors linear, textures sRGB-encoded for colour and linear for data.

`bounds` transforms only the two corners of each part's local box when its placement maps axes
to axes (issue 3: it is asked for six times per run, 1.2 s on the 1.9M-triangle stress model).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Literal

import numpy as np
from PIL import Image

from .rows import remap_sources, take_rows

AlphaMode = Literal["OPAQUE", "MASK", "BLEND"]


@dataclass
class Texture:
    """One image. `encoded`/`mime_type` are filled by the textures step for the exporters."""

    name: str
    image: Image.Image
    encoded: bytes | None = None
    mime_type: str | None = None

    @property
    def has_alpha(self) -> bool:
        return self.image.mode in ("RGBA", "LA", "PA") or (
            self.image.mode == "P" and "transparency" in self.image.info
        )


@dataclass
class Material:
    """glTF metallic-roughness PBR, with glTF's defaults. Texture fields index `Scene.textures`."""

    name: str = "material"
    base_color_factor: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    base_color_texture: int | None = None
    metallic_factor: float = 1.0
    roughness_factor: float = 1.0
    metallic_roughness_texture: int | None = None
    normal_texture: int | None = None
    normal_scale: float = 1.0
    occlusion_texture: int | None = None
    occlusion_strength: float = 1.0
    emissive_factor: tuple[float, float, float] = (0.0, 0.0, 0.0)
    emissive_texture: int | None = None
    alpha_mode: AlphaMode = "OPAQUE"
    alpha_cutoff: float = 0.5
    double_sided: bool = False
    # Sampler wrap per glTF slot name, as (s, t) in "repeat" | "clamp" | "mirror"; a slot not
    # listed repeats (glTF's default).
    texture_wrap: dict[str, tuple[str, str]] = field(default_factory=dict)
    # glTF KHR_materials_* extensions of the source material, as their JSON: the core model above
    # cannot hold them, so each exporter carries what its format can and reports the rest.
    extensions: dict[str, dict] = field(default_factory=dict)

    def texture_slots(self) -> dict[str, int]:
        """The texture indices this material uses, by glTF slot name."""
        slots = {
            "baseColorTexture": self.base_color_texture,
            "metallicRoughnessTexture": self.metallic_roughness_texture,
            "normalTexture": self.normal_texture,
            "occlusionTexture": self.occlusion_texture,
            "emissiveTexture": self.emissive_texture,
        }
        return {k: v for k, v in slots.items() if v is not None}


@dataclass
class Primitive:
    """Indexed triangles with one material. Arrays are float32 / uint32, rows per vertex."""

    positions: np.ndarray
    faces: np.ndarray
    material: int
    normals: np.ndarray | None = None
    uvs: np.ndarray | None = None

    @property
    def triangle_count(self) -> int:
        return int(len(self.faces))

    @property
    def vertex_count(self) -> int:
        return int(len(self.positions))

    def renumbered(self, remap: np.ndarray, count: int, faces: np.ndarray | None = None) -> Primitive:
        """This primitive under an old -> new vertex `remap` (meshoptimizer's: unused vertices map to
        0xFFFFFFFF) with `count` new vertices; `faces` (old numbers) default to its own."""
        source = remap_sources(remap, count)
        faces = self.faces if faces is None else faces
        return Primitive(
            positions=take_rows(self.positions, source),
            faces=remap[faces].reshape(-1, 3).astype(np.uint32),
            material=self.material,
            normals=None if self.normals is None else take_rows(self.normals, source),
            uvs=None if self.uvs is None else take_rows(self.uvs, source),
        )


@dataclass
class Mesh:
    name: str
    primitives: list[Primitive]

    @property
    def triangle_count(self) -> int:
        return sum(p.triangle_count for p in self.primitives)


@dataclass
class Instance:
    """One placement of a mesh in the world: a node of the source file, flattened."""

    name: str
    mesh: int
    matrix: np.ndarray  # 4x4 float64, column vectors (p' = M @ p)


@dataclass
class Scene:
    meshes: list[Mesh] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    materials: list[Material] = field(default_factory=list)
    textures: list[Texture] = field(default_factory=list)

    def instance_counts(self) -> list[int]:
        """How many times each mesh is placed; a mesh costs its triangles once per placement."""
        counts = [0] * len(self.meshes)
        for inst in self.instances:
            counts[inst.mesh] += 1
        return counts

    @property
    def triangle_count(self) -> int:
        """Triangles drawn, instancing included (what a budget is measured against)."""
        return sum(m.triangle_count * n for m, n in zip(self.meshes, self.instance_counts()))

    @property
    def vertex_count(self) -> int:
        return sum(
            sum(p.vertex_count for p in m.primitives) * n
            for m, n in zip(self.meshes, self.instance_counts())
        )

    def world_primitives(self) -> Iterator[tuple[Instance, Primitive]]:
        for inst in self.instances:
            for prim in self.meshes[inst.mesh].primitives:
                yield inst, prim

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """World-space axis-aligned bounding box (min, max) over every placed vertex."""
        lows, highs = [], []
        for inst, prim in self.world_primitives():
            if prim.vertex_count == 0:
                continue
            world = _placed_extremes(prim.positions, inst.matrix)
            lows.append(world.min(axis=0))
            highs.append(world.max(axis=0))
        if not lows:
            raise ValueError("scene has no geometry")
        return np.min(lows, axis=0), np.max(highs, axis=0)

    def size(self) -> tuple[float, float, float]:
        low, high = self.bounds()
        return tuple(float(x) for x in (high - low))

    def apply(self, matrix: np.ndarray) -> None:
        """Put the whole scene under `matrix` (world' = matrix @ world)."""
        for inst in self.instances:
            inst.matrix = matrix @ inst.matrix


def video_memory(size: tuple[int, int]) -> int:
    """Bytes a texture of `size` takes on a GPU as RGBA with its full mip chain (a third more)."""
    return size[0] * size[1] * 4 * 4 // 3


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return points.astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def _placed_extremes(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Points whose per-axis min and max equal those of every placed point.

    When each world axis comes from one local axis (scale, axis swap, mirror: every placement
    `normalize` makes of a file without rotations), the local box's two corners are enough and
    exact, since a*x + t is monotonic in x; that saves transforming millions of points each time
    the bounds are asked for (six times per run). Anything else transforms them all.
    """
    if np.count_nonzero(matrix[:3, :3], axis=1).max() <= 1:
        return transform_points(np.stack(column_extremes(points)), matrix)
    return transform_points(points, matrix)


def column_extremes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column min and max of an n x 3 array, one column at a time: numpy reduces a narrow
    array along axis 0 ~10x slower (60 ms vs 6 ms for 1M float32 rows)."""
    return (np.array([points[:, k].min() for k in range(points.shape[1])]),
            np.array([points[:, k].max() for k in range(points.shape[1])]))


def normal_matrix(matrix: np.ndarray) -> np.ndarray:
    """The 3x3 that transforms normals under `matrix` (inverse transpose of its linear part)."""
    return np.linalg.inv(matrix[:3, :3]).T
