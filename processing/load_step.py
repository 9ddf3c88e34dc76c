"""STEP / STP (CAD B-rep) tessellated by OpenCASCADE through `cascadio`, then read as a GLB.

cascadio reads the STEP in memory, meshes every face with OpenCASCADE's incremental mesher and
writes a GLB in metres (OpenCASCADE converts the file's length unit), which trimesh's glTF reader
then takes like any upload. So the unit comes from the file; the unit the STEP declares is read
from its global unit context for the report.

Tessellation: the chordal tolerance follows the product's size — 0.05 % of its bounding-box
diagonal (1 mm on a 2 m sofa, 0.07 mm on a 13 cm handle), with a 20° angular limit so small
round features stay round. The size comes from a coarse first pass (about a second on the corpus
part; OpenCASCADE's linear tolerance is in millimetres, its working unit). Both passes and their
settings are in the report. A STEP that would
tessellate forever is stopped by the job's time limit (the conversion runs in a child process).
STEP states no up axis, so the usual default (+Y, or the upload's `up_axis`) applies.
"""
from __future__ import annotations

import dataclasses
import io
import re

import numpy as np
import trimesh

from . import errors
from .errors import ConversionError
from .ingest import Upload
from .report import Report
from .scene import Scene
from .settings import Limits

CHORD_FRACTION = 5e-4          # of the bounding-box diagonal
ANGULAR_TOLERANCE = 0.35       # radians (20°)
MIN_CHORD_MM = 0.005
_COARSE = {"tol_linear": 0.5, "tol_relative": True, "tol_angular": 1.0}


def load(upload: Upload, resolver, limits: Limits, report: Report) -> Scene:
    from .load import _load_with_trimesh

    data = upload.root.read_bytes()
    diagonal_m = float(np.linalg.norm(_tessellated(data, _COARSE).extents))
    passes = [{"purpose": "size", **_COARSE}]
    chord_mm = max(diagonal_m * 1000.0 * CHORD_FRACTION, MIN_CHORD_MM)
    fine = {"tol_linear": round(chord_mm, 4), "tol_relative": False, "tol_angular": ANGULAR_TOLERANCE}
    glb = _glb(data, fine)
    passes.append({"purpose": "output", **fine, "chordal_tolerance_mm": round(chord_mm, 4)})
    report.note(tessellation={"mesher": "OpenCASCADE (cascadio)", "passes": passes})
    upload.stated.metres_per_unit = 1.0
    upload.stated.unit_source = f"STEP length unit ({declared_unit(data)}), converted to metres by OpenCASCADE"
    return _load_with_trimesh(dataclasses.replace(upload, format="glb"), resolver, limits, report, glb)


def _cascadio():
    try:
        import cascadio
    except ImportError:  # pragma: no cover - a broken install, not a bad file
        raise RuntimeError("STEP needs the 'cascadio' package: pip install cascadio") from None
    return cascadio


def _glb(data: bytes, options: dict) -> bytes:
    cascadio = _cascadio()
    # One thread: the machine's cores are shared by every job.
    glb = cascadio.to_glb_bytes(data, cascadio.FileType.STEP, use_parallel=False, **options)
    if not glb:
        raise ConversionError(errors.CORRUPT_FILE, "The STEP file cannot be read or holds no solid to tessellate.")
    return glb


def _tessellated(data: bytes, options: dict) -> trimesh.Scene:
    try:
        scene = trimesh.load(io.BytesIO(_glb(data, options)), file_type="glb", force="scene")
        if scene.is_empty:
            raise ValueError("empty")
        return scene
    except ConversionError:
        raise
    except Exception:
        raise ConversionError(errors.NO_GEOMETRY, "The STEP file holds no surface to show.") from None


_CONTEXT = re.compile(rb"GLOBAL_UNIT_ASSIGNED_CONTEXT\s*\(\s*\(([^)]*)\)")
_ENTITY = rb"#%s\s*=\s*([^;]*);"
_SI_PREFIX = {b"MILLI": "mm", b"CENTI": "cm", b"DECI": "dm", b"KILO": "km"}


def declared_unit(data: bytes) -> str:
    """The length unit of the STEP's global unit context, as written ('INCH', 'mm'...)."""
    match = _CONTEXT.search(data)
    for ref in (match.group(1).split(b",") if match else []):
        entity = re.search(_ENTITY % re.escape(ref.strip().lstrip(b"#")), data)
        if entity is None or b"LENGTH_UNIT" not in entity.group(1):
            continue
        body = entity.group(1)
        named = re.search(rb"CONVERSION_BASED_UNIT\s*\(\s*'([^']*)'", body)
        if named:
            return named.group(1).decode("ascii", "replace")
        si = re.search(rb"SI_UNIT\s*\(\s*\.?(\w*)\.?\s*,\s*\.METRE\.", body)
        if si:
            return _SI_PREFIX.get(si.group(1).strip(b"$."), "m")
    return "not found"
