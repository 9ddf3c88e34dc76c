"""Dimension labels: width, height and depth of the published model, as model-viewer hotspots.

The positions come from the measured size (`dimensions_m` of the published version) and the
pose the pipeline guarantees (processing/normalize.py): centred on x, bottom at y = 0, and
centred on z for floor items or back at z = 0 for wall items. So the labels are placed on the
server, with no script measuring the model in the browser. Each label sits in the middle of an
edge facing the shopper: width along the bottom front edge, height up the front right edge,
depth along the bottom right edge.

The unit follows the product's locale: inches where shops sell in inches (the United States,
Liberia, Myanmar), centimetres everywhere else and when no locale is set.
"""

from __future__ import annotations

from dataclasses import dataclass

INCH_REGIONS = frozenset({"US", "LR", "MM"})
CM_PER_M = 100.0
IN_PER_M = 1 / 0.0254


@dataclass(frozen=True)
class Hotspot:
    name: str  # width, height, depth: the slot is "hotspot-<name>"
    position: str  # "x y z" in metres, as model-viewer's data-position wants it
    normal: str
    label: str


def label_unit(locale: str | None) -> str:
    """ "in" or "cm" for a BCP 47 locale such as en-US or fr-FR."""
    region = next((part.upper() for part in (locale or "").split("-")[1:] if len(part) == 2), None)
    return "in" if region in INCH_REGIONS else "cm"


def format_length(metres: float, unit: str) -> str:
    """A length the way a shop writes it: whole centimetres, or inches to the nearest half."""
    if unit == "in":
        inches = round(metres * IN_PER_M * 2) / 2
        return f"{inches:g} in"
    centimetres = metres * CM_PER_M
    return f"{round(centimetres):d} cm" if centimetres >= 10 else f"{round(centimetres, 1):g} cm"


def dimension_hotspots(dimensions_m: dict[str, float], placement: str, locale: str | None) -> list[Hotspot]:
    """The three labels for a model of `dimensions_m` (width, height, depth in metres)."""
    width, height, depth = (float(dimensions_m[key]) for key in ("width", "height", "depth"))
    front = depth if placement == "wall" else depth / 2
    right = width / 2
    unit = label_unit(locale)

    def at(x: float, y: float, z: float) -> str:
        return f"{x:.4f} {y:.4f} {z:.4f}"

    return [
        Hotspot("width", at(0, 0, front), "0 0 1", format_length(width, unit)),
        Hotspot("height", at(right, height / 2, front), "1 0 0", format_length(height, unit)),
        Hotspot("depth", at(right, 0, front - depth / 2), "1 0 0", format_length(depth, unit)),
    ]
