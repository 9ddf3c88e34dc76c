"""FBX (binary and ASCII) through ufbx, a single-file reader fuzzed against hostile files.

Why ufbx and not Assimp or the Autodesk SDK: the SDK cannot be installed with pip; Assimp's FBX
reader is stricter about property types than the files in the wild and does not hand over
embedded textures through its Python binding. ufbx reads both encodings from memory, exposes
the embedded image bytes, and the file's own `UnitScaleFactor` and axis settings.

The scene is taken as the file stores it (its units, its up axis); `normalize` applies what the
file states (reported in `upload.stated`) unless the upload says otherwise. Native parsing runs in
the conversion child process like every other step, so a reader crash is a failed job, never a
dead server. The binding is used conservatively: every list is copied out while the scene is alive.
The reading itself runs in a forked process that never frees ufbx's scene (`_Reading`: why).
"""
from __future__ import annotations

import re
import sys

import numpy as np

from . import errors
from .errors import ConversionError
from .forked import ChildDied, Forked
from .ingest import Upload
from .mesh_parts import MaterialSpec, SceneAssembler, corner_primitive, fan_triangles
from .report import Report
from .scene import Scene
from .settings import Limits

_AXES = {0: "+x", 1: "-x", 2: "+y", 3: "-y", 4: "+z", 5: "-z"}


def load(upload: Upload, resolver, limits: Limits, report: Report) -> Scene:
    _ufbx()  # imported before the fork: the child loads nothing of its own
    reading = Forked(_Reading, upload, resolver, limits, redo=False)
    reading.ask("outcome")
    try:
        outcome = reading.result()
    except ChildDied as exc:  # reading it again here would crash this process the same way
        print(f"FBX reader: {exc}", file=sys.stderr)
        raise ConversionError(errors.CORRUPT_FILE, "The FBX reader stopped on this file; export it again from "
                                                   "its application, or as GLB.") from None
    if outcome["out_of_memory"]:
        raise MemoryError("reading the FBX file")  # the conversion's own out-of-memory failure
    upload.stated = outcome["stated"]
    resolver.missing = list(outcome["missing"])  # the child's resolver was this one, as it was
    resolver.refused = [ConversionError(*refusal) for refusal in outcome["refused"]]
    for warning in outcome["warnings"]:
        report.warn(warning)
    if outcome["error"] is not None:
        raise ConversionError(*outcome["error"])
    return outcome["scene"]


class _Reading:
    """The FBX read in a forked process (`forked`), which leaves without freeing ufbx's scene.

    Why: ufbx 0.0.5 (the newest) can crash when it frees a scene: freeing walks the element objects
    it registered, and one already released leaves a dangling pointer behind (found when a test run
    crashed in `Scene.free` or the scene's deallocation, depending on what the heap held). The child
    answers with what the reading produced — our scene, the file's stated units and axes, the
    resolver's refusals and misses, the warnings, or the ConversionError raised (code, message), or
    that memory ran out — and exits without tearing anything down (`forked`: os._exit). A child
    that dies instead (ufbx crashing on a hostile file) fails the job as a corrupt file: the read
    is not repeated in the conversion process (`Forked(redo=False)`)."""

    def __init__(self, upload: Upload, resolver, limits: Limits):
        report = Report()
        scene, error, out_of_memory = None, None, False
        try:
            scene = _read(upload, resolver, limits, report)
        except ConversionError as exc:
            error = exc.code, exc.message
        except MemoryError:
            out_of_memory = True
        self._outcome = {"scene": scene, "error": error, "out_of_memory": out_of_memory, "stated": upload.stated,
                         "warnings": report.warnings, "missing": resolver.missing,
                         "refused": [(e.code, e.message) for e in resolver.refused]}

    def outcome(self) -> dict:
        return self._outcome


def _read(upload: Upload, resolver, limits: Limits, report: Report) -> Scene:
    ufbx = _ufbx()
    try:
        fbx = ufbx.load_memory(upload.root.read_bytes(), ignore_animation=True, load_external_files=False,
                               node_depth_limit=256)
    except ufbx.UfbxError as exc:
        raise ConversionError(errors.CORRUPT_FILE, f"The FBX file cannot be read ({_reason(exc)}).") from None
    _state_units_and_axes(ufbx, fbx, upload)
    parts = SceneAssembler(report, limits)
    meshes: dict[int, int] = {}
    specs: dict[int, MaterialSpec] = {}  # by material id: each texture is looked up once
    for node in list(fbx.nodes):
        mesh = node.mesh
        if mesh is None:
            continue
        key = mesh.element_id
        if key not in meshes:
            prims = _primitives(mesh, parts, resolver, report, specs)
            meshes[key] = parts.mesh(mesh.name or node.name or "mesh", prims)
        parts.place(node.name or "node", meshes[key], _matrix(node.geometry_to_world))
    if len(fbx.anim_stacks) > 0 or len(fbx.skin_deformers) > 0:
        report.warn("FBX animation and skinning dropped: the product is shown in its rest pose")
    return parts.scene


def _ufbx():
    try:
        import ufbx
    except ImportError:  # pragma: no cover - a broken install, not a bad file
        raise RuntimeError("FBX needs the 'ufbx' package: pip install ufbx") from None
    return ufbx


def _reason(exc: Exception) -> str:
    """ufbx's error class as words: TruncatedFileError -> "truncated file"."""
    words = re.findall(r"[A-Z][a-z0-9]*", type(exc).__name__.removesuffix("Error"))
    return " ".join(words).lower() or "unreadable"


def _state_units_and_axes(ufbx, fbx, upload: Upload) -> None:
    """Record the unit and up axis only when the file sets them (not ufbx's defaults)."""
    settings = fbx.settings
    props = settings.props
    if ufbx.find_prop(props, "UnitScaleFactor") is not None:
        upload.stated.metres_per_unit = float(settings.unit_meters)
        upload.stated.unit_source = f"FBX UnitScaleFactor {100 * settings.unit_meters:g}"
    if ufbx.find_prop(props, "UpAxis") is not None:
        upload.stated.up_axis = _AXES.get(int(settings.axes.up))
        upload.stated.up_source = "FBX UpAxis"


def _matrix(m) -> np.ndarray:
    matrix = np.eye(4)
    for column, vec in enumerate((m.c0, m.c1, m.c2, m.c3)):
        matrix[:3, column] = (vec.x, vec.y, vec.z)
    return matrix


def _primitives(mesh, parts: SceneAssembler, resolver, report: Report, specs: dict) -> list:
    position = mesh.vertex_position
    points = np.array(memoryview(position.values), dtype=np.float64).reshape(-1, 3)
    corner_points = np.fromiter(position.indices, dtype=np.int64)
    faces = np.array(memoryview(mesh.faces), dtype=np.int64).reshape(-1, 2)  # (index_begin, num_indices)
    begins, counts = faces[:, 0], faces[:, 1]
    # Corners in face order (ufbx stores them so, but the faces are the authority).
    order = np.repeat(begins, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    if order.size and (order.max() >= len(corner_points)):
        raise ConversionError(errors.CORRUPT_FILE, f"Mesh '{mesh.name}' has faces past its index list.")
    triangles = fan_triangles(counts)
    face_of_triangle = np.repeat(np.arange(len(faces)), np.maximum(counts - 2, 0))
    uvs = _corner_attribute(mesh.vertex_uv, 2)
    if uvs is not None:
        uvs[:, 1] = 1.0 - uvs[:, 1]  # FBX v points up (OpenGL); glTF's points down
    normals = _corner_attribute(mesh.vertex_normal, 3)
    materials = list(mesh.materials)
    face_material = np.fromiter(mesh.face_material, dtype=np.int64) if materials else None
    if face_material is not None and len(face_material) != len(faces):
        face_material = None  # no per-face assignment: the first material for all
        materials = materials[:1]
    prims = []
    slots = np.unique(face_material) if face_material is not None else [0 if materials else None]
    for slot in slots:
        selected = triangles if face_material is None else triangles[face_material[face_of_triangle] == slot]
        material = materials[int(slot)] if slot is not None and 0 <= slot < len(materials) else None
        key = material.element_id if material is not None else "default"
        if key not in specs:
            specs[key] = _material(material, resolver) if material is not None else MaterialSpec("default")
        spec = specs[key]
        if len(selected) == 0:
            continue
        index = parts.material(key, spec, uvs is not None)
        # `fan_triangles` numbers corners in face order, so every corner array is taken in that order.
        prims.append(corner_primitive(points, corner_points[order], selected, index,
                                      None if uvs is None else uvs[order],
                                      None if normals is None else normals[order]))
    return prims


def _corner_attribute(attribute, width: int) -> np.ndarray | None:
    if not attribute.exists:
        return None
    values = np.array(memoryview(attribute.values), dtype=np.float64).reshape(-1, width)
    indices = np.fromiter(attribute.indices, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= len(values)):
        return None
    return values[indices]


def _material(material, resolver) -> MaterialSpec:
    base = material.pbr.base_color
    factor = material.pbr.base_factor
    color = base.value_vec4 if base.has_value else None
    rgba = (color.x, color.y, color.z, 1.0) if color is not None else (0.8, 0.8, 0.8, 1.0)
    if factor.has_value and 0.0 < factor.value_real <= 1.0:
        rgba = tuple(c * factor.value_real for c in rgba[:3]) + (1.0,)
    opacity = material.pbr.opacity
    if opacity.has_value and 0.0 <= opacity.value_real < 1.0:
        rgba = rgba[:3] + (float(opacity.value_real),)
    texture = base.texture if base.texture is not None else material.fbx.diffuse_color.texture
    data, name = _texture_bytes(texture, resolver) if texture is not None else (None, "")
    roughness = material.pbr.roughness
    return MaterialSpec(
        name=material.name or "material", color=tuple(float(c) for c in rgba), texture=data, texture_name=name,
        roughness=float(roughness.value_real) if roughness.has_value and 0 <= roughness.value_real <= 1 else 0.7,
    )


def _texture_bytes(texture, resolver) -> tuple[bytes | None, str]:
    """The image of a texture: embedded in the FBX, or the file of the upload its path names.

    Exporters write `RelativeFilename` relative to wherever the artist saved the FBX, often
    climbing out of it (`..\\textures\\wood.png`): such a path is matched by its file name inside
    the upload, as an absolute one is (see ingest.resolve_reference).
    """
    content = bytes(texture.content)
    name = texture.relative_filename or texture.filename or texture.absolute_filename
    if content or not name:
        return (content or None), name or texture.name
    posix = name.replace("\\", "/")
    if ".." in posix.split("/"):
        name = posix.rsplit("/", 1)[-1]
    try:
        return resolver.get(name), name
    except FileNotFoundError:
        return None, name
