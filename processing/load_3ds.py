"""3DS (3ds Max's old interchange format) through Assimp, packaged as the `assimp-py` wheel.

3DS stores no unit and no up-axis field; every file comes from 3ds Max, whose world is Z-up, so
that is what the file is said to state (`upload.stated.up_axis = "+z"`, reported as such). Assimp
adds a root node that turns Z-up into Y-up; it is left out here so that `normalize` applies the one
up-axis rule for every format (and an `up_axis` given with the upload means the file's own axes).
Texture names are 8.3 and often upper case (`WOOD.PNG`): they are matched by name, ignoring case,
inside the upload.
"""
from __future__ import annotations

import numpy as np

from . import errors
from .errors import ConversionError
from .ingest import Upload
from .mesh_parts import MaterialSpec, SceneAssembler
from .report import Report
from .scene import Primitive, Scene
from .settings import Limits

_DIFFUSE = 1  # aiTextureType_DIFFUSE


def load(upload: Upload, resolver, limits: Limits, report: Report) -> Scene:
    assimp = _assimp()
    flags = assimp.Process_Triangulate | assimp.Process_SortByPType | assimp.Process_ValidateDataStructure
    try:
        loaded = assimp.import_file(str(upload.root), flags)
    except RuntimeError:
        raise ConversionError(errors.CORRUPT_FILE, "The 3DS file cannot be read (truncated or corrupt).") from None
    upload.stated.up_axis = "+z"
    upload.stated.up_source = "3DS files come from 3ds Max, whose world is Z-up"
    parts = SceneAssembler(report, limits)
    materials = [_material(m, resolver) for m in loaded.materials]
    meshes: dict[int, int] = {}
    for name, indices, matrix in _placements(loaded.root_node):
        for index in indices:
            if index not in meshes:
                source = loaded.meshes[index]
                prim = _primitive(source, parts, materials)
                if prim is None:
                    continue
                meshes[index] = parts.mesh(source.name or name, [prim])
            parts.place(name, meshes[index], matrix)
    return parts.scene


def _assimp():
    try:
        import assimp_py
    except ImportError:  # pragma: no cover - a broken install, not a bad file
        raise RuntimeError("3DS needs the 'assimp-py' package: pip install assimp-py") from None
    return assimp_py


def _placements(root):
    """(node name, mesh indices, world matrix) for every node, the root's axis swap left out."""
    stack = [(child, np.eye(4)) for child in root.children]
    if root.mesh_indices:
        yield root.name, list(root.mesh_indices), np.eye(4)
    depth_guard = 0
    while stack:
        node, parent = stack.pop()
        depth_guard += 1
        if depth_guard > 1_000_000:
            raise ConversionError(errors.INPUT_TOO_LARGE, "The 3DS file has too many nodes.")
        world = parent @ np.array(node.transformation, dtype=np.float64).reshape(4, 4)
        if node.mesh_indices:
            yield node.name or "node", list(node.mesh_indices), world
        stack.extend((child, world) for child in node.children)


def _primitive(source, parts: SceneAssembler, materials: list[MaterialSpec]) -> Primitive | None:
    positions = np.frombuffer(source.vertices, dtype=np.float32).reshape(-1, 3)
    faces = np.frombuffer(source.indices, dtype=np.uint32)
    if faces.size != 3 * source.num_faces or len(positions) == 0:
        return None  # points or lines (sorted apart by SortByPType)
    faces = faces.reshape(-1, 3)
    uvs = None
    if source.texcoords and source.texcoords[0] is not None:
        raw = np.frombuffer(source.texcoords[0], dtype=np.float32)
        stride = raw.size // len(positions)  # the binding packs 2 or 3 components per vertex
        if stride >= 2 and raw.size == stride * len(positions):
            uvs = raw.reshape(len(positions), stride)[:, :2].copy()
            uvs[:, 1] = 1.0 - uvs[:, 1]  # Assimp's v points up; glTF's points down
    normals = np.frombuffer(source.normals, dtype=np.float32).reshape(-1, 3).copy() if source.normals else None
    spec = materials[source.material_index] if 0 <= source.material_index < len(materials) else MaterialSpec("default")
    material = parts.material(source.material_index, spec, uvs is not None)
    return Primitive(positions.copy(), faces.copy(), material, normals=normals, uvs=uvs)


def _material(source: dict, resolver) -> MaterialSpec:
    diffuse = source.get("COLOR_DIFFUSE") or [0.8, 0.8, 0.8]
    opacity = float(source.get("OPACITY", 1.0))
    name = str(source.get("NAME", "material"))
    paths = (source.get("TEXTURES") or {}).get(_DIFFUSE) or []
    data = None
    if paths:
        try:
            data = resolver.get(paths[0])
        except FileNotFoundError:
            data = None
    return MaterialSpec(name=name, color=(*[float(c) for c in diffuse[:3]], min(max(opacity, 0.0), 1.0)),
                        texture=data, texture_name=paths[0] if paths else "")
