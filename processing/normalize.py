"""normalize: real-world scale and pose — metres, +Y up, origin at the centre of the footprint.

The unit is taken, in this order, from: the `unit` given with the upload; what the format states
(glTF is metres by definition); the product's declared dimensions (the unit under which the
model's size matches them); a guess from the model's size. Each source is written in the report,
and a guess says so. When dimensions are declared, the result is checked against them and a
mismatch fails the job with both sizes side by side, axis by axis.

Placement: `floor` puts the bottom of the bounding box at y = 0, centred on x and z; `wall` puts
the back of the bounding box (lowest z) at z = 0, centred on x, bottom at y = 0.
"""
from __future__ import annotations

import numpy as np

from . import errors
from .errors import ConversionError
from .report import Report
from .settings import METRES_PER_UNIT, Dimensions, Settings

FILE_UNITS = {"glb": "m", "gltf": "m"}
# A guessed unit is the one that makes the longest side closest (in ratio) to a typical piece of
# furniture; order breaks ties. The guess is always flagged in the report.
TYPICAL_SIZE_M = 0.8
GUESS_ORDER = ("m", "cm", "mm", "in")


def run(conv, settings: Settings) -> None:
    scene = conv.scene
    size = np.array(scene.size())
    unit = choose_unit(conv.upload.format, size, settings, conv.report)
    scale = METRES_PER_UNIT[unit]
    if settings.dimensions is not None:
        check_dimensions(size * scale, settings.dimensions, settings.dimension_tolerance, unit)
    scene.apply(_scale_matrix(scale))
    scene.apply(_placement_matrix(*scene.bounds(), settings.placement))
    conv.report.assume(f"up axis: +Y ({'glTF defines it' if conv.upload.format in FILE_UNITS else 'assumed; the format does not say'})")
    conv.report.dimensions_m = _dimensions(scene.size())


def choose_unit(fmt: str, size: np.ndarray, settings: Settings, report: Report) -> str:
    if settings.unit:
        report.assume(f"unit: {settings.unit} (given with the upload)")
        return settings.unit
    if fmt in FILE_UNITS:
        report.assume(f"unit: {FILE_UNITS[fmt]} (stated by the {fmt.upper()} format)")
        return FILE_UNITS[fmt]
    if settings.dimensions is not None:
        unit = unit_matching_dimensions(size, settings.dimensions, settings.dimension_tolerance)
        if unit:
            report.assume(f"unit: {unit} (inferred from the declared dimensions)")
            return unit
    unit = guess_unit(size)
    report.assume(f"unit: {unit} (GUESSED from the model's size; give the unit with the upload to be sure)")
    report.warn(f"unit guessed as {unit}: the file states none and no dimensions were declared")
    return unit


def unit_matching_dimensions(size: np.ndarray, declared: Dimensions, tolerance: float) -> str | None:
    target = np.array(declared.in_metres())
    for unit, k in METRES_PER_UNIT.items():
        if np.all(np.abs(size * k - target) <= tolerance * target):
            return unit
    return None


def guess_unit(size: np.ndarray) -> str:
    longest = max(float(np.max(size)), 1e-12)
    return min(GUESS_ORDER, key=lambda unit: abs(np.log(longest * METRES_PER_UNIT[unit] / TYPICAL_SIZE_M)))


def check_dimensions(size_m: np.ndarray, declared: Dimensions, tolerance: float, unit: str) -> None:
    target = np.array(declared.in_metres())
    if np.all(np.abs(size_m - target) <= tolerance * target):
        return
    k = METRES_PER_UNIT[declared.unit]
    model = " x ".join(f"{v / k:.4g}" for v in size_m)
    wanted = " x ".join(f"{v:.4g}" for v in (declared.width, declared.height, declared.depth))
    raise ConversionError(
        errors.DIMENSIONS_MISMATCH,
        f"Declared {wanted} {declared.unit} (W x H x D); the model measures {model} {declared.unit} "
        f"read as {unit}. Check the unit given with the upload, or the product's dimensions.",
    )


def _scale_matrix(scale: float) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] *= scale
    return matrix


def _placement_matrix(low: np.ndarray, high: np.ndarray, placement: str) -> np.ndarray:
    centre = (low + high) / 2.0
    offset = np.array([-centre[0], -low[1], -centre[2] if placement == "floor" else -low[2]])
    matrix = np.eye(4)
    matrix[:3, 3] = offset
    return matrix


def _dimensions(size) -> dict:
    return {axis: round(float(v), 6) for axis, v in zip(("width", "height", "depth"), size)}
