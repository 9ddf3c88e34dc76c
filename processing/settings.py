"""One value describes a whole conversion run (gltfpack style): units, budgets, limits.

It is stored with every job as JSON, so any run can be reproduced with `vitrine3d convert`.
Defaults live here and nowhere else; ../shared/SECURITY.md gives the reasoning for the limits.
"""
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PositiveFloat

Unit = Literal["mm", "cm", "m", "in", "ft"]
Placement = Literal["floor", "wall"]
# A direction in the file's own coordinates: "+z" (or "z"), "-x", ...
Axis = Annotated[Literal["+x", "-x", "+y", "-y", "+z", "-z"], BeforeValidator(lambda v: _axis(v))]
# "strict": the declared dimensions must match within the tolerance; "scale": a uniform rescale of
# up to ±10 % is applied (and reported) when that makes them match.
Fit = Literal["strict", "scale"]

METRES_PER_UNIT: dict[str, float] = {"mm": 0.001, "cm": 0.01, "m": 1.0, "in": 0.0254, "ft": 0.3048}

MiB = 1024 * 1024
# Unless a run says otherwise (`optimize_vertices`), decimation moves the kept vertices for products up
# to this many drawn triangles. Issue 3's benchmark (equal triangle counts, quality.py) with it on
# everywhere: median Hausdorff 0.88x -> 0.78x gltfpack's, mean 0.86x -> 0.49x; a corpus model's whole
# conversion 0.3 -> 0.4-0.7 s (wasmtime's import and compile, ~0.2 CPU-s, dominate small models), but
# the 650k-triangle stress capsule 1.04 -> 1.43 s (1.59x gltfpack's, past the 1.5x). Inputs of
# 0.5-2M triangles (scans, subdivided CAD) keep the faster native simplifier; a 300k one costs 0.1-0.3 s more
# (the stress capsule and chair cut to 300k, -> 50k).
OPTIMIZE_VERTICES_UP_TO = 300_000


class Dimensions(BaseModel):
    """A product's catalog size: width (x), height (y), depth (z) in `unit`."""

    model_config = ConfigDict(frozen=True)

    width: PositiveFloat
    height: PositiveFloat
    depth: PositiveFloat
    unit: Unit = "cm"

    def in_metres(self) -> tuple[float, float, float]:
        k = METRES_PER_UNIT[self.unit]
        return (self.width * k, self.height * k, self.depth * k)


class Limits(BaseModel):
    """What one upload may cost before it is refused (set tiny in tests)."""

    model_config = ConfigDict(frozen=True)

    archive_entries: int = 1000
    archive_unpacked_bytes: int = 1024 * MiB
    archive_ratio: float = 100.0
    gltf_json_bytes: int = 64 * MiB
    input_triangles: int = 10_000_000
    # glTF objects (nodes, meshes, primitives, accessors, materials...) in one file.
    scene_objects: int = 100_000
    texture_pixels: int = 8192 * 8192
    texture_bytes_per_job: int = 1024 * MiB


class Settings(BaseModel):
    """Everything that decides what a conversion produces."""

    model_config = ConfigDict(frozen=True)

    unit: Unit | None = Field(None, description="Unit of the file's coordinates; overrides what the file says.")
    dimensions: Dimensions | None = Field(None, description="The product's catalog size, to infer or check scale.")
    dimension_tolerance: float = Field(0.02, gt=0, lt=0.5, description="Relative tolerance when matching dimensions.")
    placement: Placement = "floor"
    up_axis: Axis | None = Field(None, description="The file's up direction; overrides what the file says.")
    front: Axis | None = Field(None, description="The direction the product's front faces in the file; turned to +Z.")
    fit: Fit = Field("strict", description="'scale' allows a uniform rescale of up to 10% to meet the declared dimensions.")
    max_triangles: int = Field(100_000, ge=12, le=5_000_000, description="Hard ceiling for the whole product.")
    max_texture_size: int = Field(2048, ge=64, le=8192, description="Longest texture edge; a power of two.")
    max_texture_memory_mib: int = Field(
        128, ge=8, le=4096, description="Video memory all textures may take once decoded (RGBA with mipmaps), in MiB; "
                                        "the largest are halved until they fit (128: two 2048 px PBR sets).")
    jpeg_quality: int = Field(90, ge=50, le=100)
    web_textures: Literal["webp", "ktx2"] = Field(
        "webp", description="Textures of the web flavour: 'webp' (smallest download) or 'ktx2' (Basis Universal: "
                            "stays compressed in video memory, 4-8x less on phones; slower to convert).")
    optimize_vertices: bool | None = Field(
        None, description="Decimation also moves each kept vertex (solving its normal and UV) to fit the original "
                          "surface best: about half the mean error at the same triangles, for a slower simplification "
                          "(meshoptimizer 1.3's simplifyWithUpdate in wasmtime). Unset: on for products of up to "
                          f"{OPTIMIZE_VERTICES_UP_TO:,} triangles, off above, where the time it adds grows.")
    # 10,000 (was 20,000; ../shared/bench/quality.py takes 100,000): against quality.py's figure on 14 corpus
    # and stress models, the mean error is within 2.5% either way and the Hausdorff distance (a maximum over
    # random samples, so always an estimate) within 4% at the median, 31% at worst (20k: 4% and 37%), while the
    # distance queries cost half as much: on the stress chair, where every query opens ~115 triangle boxes, 20k
    # each way took 1.0 of the conversion's 4 CPU-s (issue 3's time target; figures in its note).
    error_samples: int = Field(10_000, ge=0, le=1_000_000,
                               description="Points sampled per surface to measure the decimation error (0: not measured; "
                                           "100,000 is what ../shared/bench/quality.py takes).")
    limits: Limits = Limits()

    def optimizes_vertices(self, triangles: int) -> bool:
        """Whether decimating a product of `triangles` drawn triangles moves the kept vertices: as
        `optimize_vertices` says, or, unset, up to OPTIMIZE_VERTICES_UP_TO."""
        if self.optimize_vertices is not None:
            return self.optimize_vertices
        return triangles <= OPTIMIZE_VERTICES_UP_TO


def _axis(value):
    """Accept "z", "Z", "+Z" for "+z": people and tools write directions all three ways."""
    if isinstance(value, str):
        value = value.strip().lower()
        return value if value[:1] in "+-" else "+" + value
    return value
