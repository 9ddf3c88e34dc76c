"""normalize: real-world scale and pose — metres, +Y up, front to +Z, origin at the floor centre.

Pose first, then scale:
- Up axis: the `up_axis` given with the upload, else the file's own (COLLADA `<up_axis>`, FBX axis
  settings, USD `upAxis`, 3DS's Z-up world), else +Y (glTF's, and the assumption for OBJ/STL/PLY/STEP).
  It is turned to +Y the way Blender's and glTF exporters do (Z-up: (x, y, z) → (x, z, -y)).
- Front: an optional `front` (a direction in the file's axes, e.g. "-x") is turned about +Y to +Z.
- Unit, in this order: the `unit` given with the upload; what the file states (glTF metres, FBX
  UnitScaleFactor, COLLADA `<unit meter>`, STEP's length unit, USD `metersPerUnit`); the product's
  declared dimensions; a guess from the model's size. Every source used is in the report.

Reconciliation with the catalog (when the product has declared W x H x D): find the unit (if the
upload and the file leave it open) and the quarter-turn (Z-up vs Y-up, width/depth swapped, if the
upload fixes neither up nor front) that make the bounding box match within the tolerance; apply
it and say so. With `fit=scale`, a uniform rescale within ±10 % may close the rest. Otherwise the
job fails with DIMENSIONS_MISMATCH, both sizes axis by axis and the closest candidate.

Placement: `floor` puts the bottom of the bounding box at y = 0, centred on x and z; `wall` puts
the back of the bounding box (lowest z) at z = 0, centred on x, bottom at y = 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import errors
from .errors import ConversionError
from .ingest import Stated
from .report import Report
from .settings import METRES_PER_UNIT, Dimensions, Settings

FILE_UNITS = {"glb": 1.0, "gltf": 1.0}
# A guessed unit is the one that makes the longest side closest (in ratio) to a typical piece of
# furniture; order breaks ties. The guess is always flagged in the report.
TYPICAL_SIZE_M = 0.8
GUESS_ORDER = ("m", "cm", "mm", "in")
MAX_RESCALE = 0.10

_AXIS_VECTORS = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0), "+z": (0, 0, 1), "-z": (0, 0, -1)}
# Rotations taking each up axis to +Y (rows: where x, y, z go).
_TO_Y_UP = {
    "+y": np.eye(3),
    "-y": np.diag([1.0, -1.0, -1.0]),
    "+z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
    "-z": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
    "+x": np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
    "-x": np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]),
}
_QUARTER_Y = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # a quarter turn about +Y: swaps W and D
_TURNS = [
    ("as is", np.eye(3)),
    ("width/depth swapped", _QUARTER_Y),
    ("rotated Z-up → Y-up", _TO_Y_UP["+z"]),
    ("rotated Z-up → Y-up, width/depth swapped", _QUARTER_Y @ _TO_Y_UP["+z"]),
    ("rotated X-up → Y-up", _TO_Y_UP["+x"]),
    ("rotated X-up → Y-up, width/depth swapped", _QUARTER_Y @ _TO_Y_UP["+x"]),
]


@dataclass(frozen=True)
class UnitChoice:
    metres_per_unit: float | None   # None: open, to be found from the declared dimensions
    name: str
    source: str


@dataclass(frozen=True)
class Match:
    """A way to read the model that makes it the declared size."""

    turn: str
    rotation: np.ndarray
    unit: str
    metres_per_unit: float
    rescale: float
    error: float          # largest relative difference per axis, after the rescale


def run(conv, settings: Settings) -> None:
    scene, report, stated = conv.scene, conv.report, conv.upload.stated
    pose = _pose(conv.upload.format, stated, settings, report)
    scene.apply(_matrix(pose))
    size = np.array(scene.size())
    unit = choose_unit(conv.upload.format, stated, size, settings, report)
    scale, turn = unit.metres_per_unit, np.eye(3)
    if settings.dimensions is not None:
        match = reconcile(size, unit, settings)
        _report_match(match, unit, report)
        scale, turn = match.metres_per_unit * match.rescale, match.rotation
    scene.apply(_matrix(turn * scale))
    placement = _placement_matrix(*scene.bounds(), settings.placement)
    scene.apply(placement)
    conv.report.note(matrix=(placement @ _matrix(turn * scale) @ _matrix(pose)).round(9).tolist())
    conv.report.dimensions_m = _dimensions(scene.size())


# --- pose ------------------------------------------------------------------------------------------

def _pose(fmt: str, stated: Stated, settings: Settings, report: Report) -> np.ndarray:
    if settings.up_axis:
        up, why = settings.up_axis, "given with the upload"
    elif stated.up_axis:
        up, why = stated.up_axis, f"stated by the file: {stated.up_source}"
    elif fmt in FILE_UNITS:
        up, why = "+y", "glTF defines it"
    else:
        up, why = "+y", "assumed; the format does not say"
    report.assume(f"up axis: {up} ({why})")
    rotation = _TO_Y_UP[up]
    if settings.front:
        front = rotation @ np.array(_AXIS_VECTORS[settings.front], dtype=float)
        if abs(front[1]) > 0.5:
            raise ConversionError(
                errors.ORIENTATION_INVALID,
                f"The front ({settings.front}) cannot be the up axis ({up}); give a horizontal direction.")
        rotation = _front_to_z(front) @ rotation
        report.assume(f"front: {settings.front} turned to face +Z (given with the upload)")
    return rotation


def _front_to_z(front: np.ndarray) -> np.ndarray:
    """The rotation about +Y that takes the horizontal direction `front` to +Z."""
    angle = -np.arctan2(front[0], front[2])
    c, s = np.rint(np.cos(angle)), np.rint(np.sin(angle))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


# --- unit --------------------------------------------------------------------------------------------

def choose_unit(fmt: str, stated: Stated, size: np.ndarray, settings: Settings, report: Report) -> UnitChoice:
    if settings.unit:
        choice = UnitChoice(METRES_PER_UNIT[settings.unit], settings.unit, "given with the upload")
    elif fmt in FILE_UNITS:
        choice = UnitChoice(FILE_UNITS[fmt], "m", f"stated by the {fmt.upper()} format")
    elif stated.metres_per_unit:
        choice = UnitChoice(stated.metres_per_unit, unit_name(stated.metres_per_unit), f"stated by the file: {stated.unit_source}")
    elif settings.dimensions is not None:
        return UnitChoice(None, "", "inferred from the declared dimensions")
    else:
        unit = guess_unit(size)
        report.assume(f"unit: {unit} (GUESSED from the model's size; give the unit with the upload to be sure)")
        report.warn(f"unit guessed as {unit}: the file states none and no dimensions were declared")
        return UnitChoice(METRES_PER_UNIT[unit], unit, "guessed")
    report.assume(f"unit: {choice.name} ({choice.source})")
    return choice


def unit_name(metres_per_unit: float) -> str:
    for name, k in METRES_PER_UNIT.items():
        if np.isclose(metres_per_unit, k, rtol=1e-6):
            return name
    return f"{metres_per_unit:g} m"


def unit_matching_dimensions(size: np.ndarray, declared: Dimensions, tolerance: float) -> str | None:
    """The unit under which `size` (as it stands) is the declared size, if one is."""
    target = np.array(declared.in_metres())
    for unit, k in METRES_PER_UNIT.items():
        if np.all(np.abs(size * k - target) <= tolerance * target):
            return unit
    return None


def guess_unit(size: np.ndarray) -> str:
    longest = max(float(np.max(size)), 1e-12)
    return min(GUESS_ORDER, key=lambda unit: abs(np.log(longest * METRES_PER_UNIT[unit] / TYPICAL_SIZE_M)))


# --- reconciliation ------------------------------------------------------------------------------------

def reconcile(size: np.ndarray, unit: UnitChoice, settings: Settings) -> Match:
    """The reading (unit, quarter-turn, rescale) that makes `size` the declared dimensions."""
    declared = settings.dimensions
    target = np.array(declared.in_metres())
    tolerance = settings.dimension_tolerance
    candidates = list(_candidates(size, unit, settings, target))
    exact = [m for m in candidates if m.error <= tolerance]
    if exact:
        return exact[0]  # candidates come in order of preference: fewest changes first
    if settings.fit == "scale":
        rescaled = [_rescaled(m, size, target) for m in candidates]
        fitting = [m for m in rescaled if m.error <= tolerance and abs(m.rescale - 1) <= MAX_RESCALE]
        if fitting:
            return min(fitting, key=lambda m: abs(m.rescale - 1))
    raise ConversionError(errors.DIMENSIONS_MISMATCH, _mismatch(size, unit, declared, min(candidates, key=lambda m: m.error)))


def _candidates(size: np.ndarray, unit: UnitChoice, settings: Settings, target: np.ndarray):
    units = ([(unit.name, unit.metres_per_unit)] if unit.metres_per_unit is not None
             else list(METRES_PER_UNIT.items()))
    if settings.front:
        turns = _TURNS[:1]             # the upload fixed the pose
    elif settings.up_axis:
        turns = _TURNS[:2]             # up is fixed; width and depth may still be swapped
    else:
        turns = _TURNS
    for turn, rotation in turns:
        turned = np.abs(rotation) @ size
        for name, k in units:
            error = float(np.max(np.abs(turned * k - target) / target))
            yield Match(turn, rotation, name, k, 1.0, error)


def _rescaled(match: Match, size: np.ndarray, target: np.ndarray) -> Match:
    model = np.abs(match.rotation) @ size * match.metres_per_unit
    ratios = target / model
    rescale = float(np.sqrt(ratios.min() * ratios.max()))  # balances the worst over and under
    error = float(np.max(np.abs(model * rescale - target) / target))
    return Match(match.turn, match.rotation, match.unit, match.metres_per_unit, rescale, error)


def _report_match(match: Match, unit: UnitChoice, report: Report) -> None:
    if unit.metres_per_unit is None:
        report.assume(f"unit: {match.unit} ({unit.source})")
    if match.turn != "as is":
        report.assume(f"{match.turn} to match the declared dimensions")
    if match.rescale != 1.0:
        report.assume(f"rescaled by {match.rescale:.4f} to meet the declared dimensions (fit=scale)")
        report.warn(f"model rescaled by {100 * (match.rescale - 1):+.1f}% to match the catalog dimensions")
    report.note(reconciliation={"unit": match.unit, "turn": match.turn, "rescale": round(match.rescale, 6),
                                "largest_difference": round(match.error, 6)})


def _mismatch(size: np.ndarray, unit: UnitChoice, declared: Dimensions, closest: Match) -> str:
    k = METRES_PER_UNIT[declared.unit]
    wanted = (declared.width, declared.height, declared.depth)
    read_k = unit.metres_per_unit if unit.metres_per_unit is not None else closest.metres_per_unit
    read_as = unit.name if unit.metres_per_unit is not None else closest.unit
    model = size * read_k / k
    axes = ", ".join(f"{axis} {100 * (m / w - 1):+.1f}%" for axis, m, w in zip(("width", "height", "depth"), model, wanted))
    hint = ""
    if "Z-up" in closest.turn:
        hint = " — is the file Z-up?"
    elif closest.unit != read_as:
        hint = f" — is the file in {closest.unit}?"
    return (
        f"Declared {_triple(wanted)} {declared.unit} (W x H x D); the model measures {_triple(model)} {declared.unit} "
        f"read as {read_as} ({_triple(size)} in its own units): {axes}. "
        f"Closest: {closest.unit}, {closest.turn}, off by up to {100 * closest.error:.1f}%{hint}. "
        "Check the unit and up axis given with the upload, or the product's dimensions."
    )


def _triple(values) -> str:
    return " x ".join(f"{v:.4g}" for v in values)


# --- matrices ----------------------------------------------------------------------------------------

def _matrix(linear: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = linear
    return matrix


def _placement_matrix(low: np.ndarray, high: np.ndarray, placement: str) -> np.ndarray:
    centre = (low + high) / 2.0
    offset = np.array([-centre[0], -low[1], -centre[2] if placement == "floor" else -low[2]])
    matrix = np.eye(4)
    matrix[:3, 3] = offset
    return matrix


def _dimensions(size) -> dict:
    return {axis: round(float(v), 6) for axis, v in zip(("width", "height", "depth"), size)}
