"""USD (usda, usdc) and USDZ as input, through usd-core.

Composing a stage makes usd-core open every sublayer, reference, payload and asset it names —
absolute paths and `../` included — so nothing is composed before every layer reachable from the
root has been read on its own (`Sdf`, no composition) and every path it authors (sublayers,
references, payloads, asset-valued attributes, in variants too: `UsdUtils.ExtractExternalReferences`)
has passed `ingest.resolve_reference`: relative, inside the upload, no scheme, no `..`, no
expression. Only then is the stage opened, and a texture is read only if its resolved path is
inside the upload.

The file states its unit (`metersPerUnit`) and up axis (`upAxis`) when it authors them; USD's
fallbacks (centimetres, +Y) are not taken as statements, so an unauthored unit is settled like an
OBJ's (upload, declared dimensions, guess) and reported so.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import errors
from .errors import ConversionError
from .ingest import Upload, resolve_reference
from .mesh_parts import MaterialSpec, SceneAssembler, corner_primitive, fan_triangles
from .report import Report
from .scene import Scene
from .settings import Limits

MAX_LAYERS = 64
_LAYER_SUFFIXES = (".usd", ".usda", ".usdc")


def load(upload: Upload, resolver, limits: Limits, report: Report) -> Scene:
    from pxr import Tf, Usd, UsdGeom

    try:
        # Again (preflight ran it and reported its warnings): the loader stays safe when called alone.
        check_asset_paths(upload, Report())
        stage = Usd.Stage.Open(str(upload.root), Usd.Stage.LoadAll)
    except Tf.ErrorException:
        stage = None  # usd-core's message names server paths: not shown
    if stage is None:
        raise ConversionError(errors.CORRUPT_FILE, "The USD file cannot be parsed (truncated or not USD).")
    if UsdGeom.StageHasAuthoredMetersPerUnit(stage):
        upload.stated.metres_per_unit = float(UsdGeom.GetStageMetersPerUnit(stage))
        upload.stated.unit_source = f"USD metersPerUnit {upload.stated.metres_per_unit:g}"
    if stage.HasAuthoredMetadata("upAxis"):
        upload.stated.up_axis = "+z" if UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.z else "+y"
        upload.stated.up_source = "USD upAxis"
    return _scene(stage, upload.directory, limits, report)


def check_asset_paths(upload: Upload, report: Report) -> None:
    """Every layer reachable from the root, and every path they author, stays inside the upload.

    A path that is safe but names no file of the upload is a warning (a texture left out of the
    package); usd-core then composes without it."""
    from pxr import Tf

    try:
        _check_layers(upload, report)
    except Tf.ErrorException:  # usd-core's message names server paths: not shown
        raise ConversionError(errors.CORRUPT_FILE, "The USD file cannot be parsed (truncated or not USD).") from None


def _check_layers(upload: Upload, report: Report) -> None:
    from pxr import Sdf, UsdUtils

    pending, seen = [upload.root.resolve()], set()
    while pending:
        layer_path = pending.pop()
        if layer_path in seen:
            continue
        seen.add(layer_path)
        if len(seen) > MAX_LAYERS:
            raise ConversionError(errors.INPUT_TOO_LARGE, f"The USD file composes more than {MAX_LAYERS} layers.")
        if Sdf.Layer.OpenAsAnonymous(str(layer_path)) is None:
            raise ConversionError(errors.CORRUPT_FILE, f"The USD layer '{layer_path.name}' cannot be read.")
        sublayers, references, payloads = UsdUtils.ExtractExternalReferences(str(layer_path))
        for path in [*sublayers, *references, *payloads]:
            target = _checked(upload, layer_path.parent, path, report)
            if target is not None and target.suffix.lower() in _LAYER_SUFFIXES:
                pending.append(target)


def _checked(upload: Upload, base: Path, path: str, report: Report) -> Path | None:
    if "`" in path or "${" in path:
        raise ConversionError(errors.REFERENCE_UNSAFE, "The USD file uses an expression in an asset path; only plain relative paths are accepted.")
    try:
        return resolve_reference(upload.directory, base, path)
    except ConversionError as exc:
        if exc.code != errors.REFERENCE_MISSING:
            raise
        report.warn(f"'{path}' is named by the model but not in the upload: it was skipped")
        return None


def _scene(stage, directory: Path, limits: Limits, report: Report) -> Scene:
    from pxr import Usd, UsdGeom

    parts = SceneAssembler(report, limits)
    cache = UsdGeom.XformCache(Usd.TimeCode.Default())
    for prim in stage.Traverse():
        if not prim.IsA(UsdGeom.Mesh):
            continue
        imageable = UsdGeom.Imageable(prim)
        if imageable.ComputeVisibility() == UsdGeom.Tokens.invisible or imageable.ComputePurpose() in (
                UsdGeom.Tokens.guide, UsdGeom.Tokens.proxy):
            continue
        prims = _primitives(UsdGeom.Mesh(prim), parts, directory, report)
        if prims:
            # Gf matrices act on row vectors (p' = p M); ours on columns.
            matrix = np.array(cache.GetLocalToWorldTransform(prim), dtype=np.float64).T
            parts.place(str(prim.GetPath()), parts.mesh(prim.GetName(), prims), matrix)
    return parts.scene


def _primitives(mesh, parts: SceneAssembler, directory: Path, report: Report) -> list:
    from pxr import UsdGeom, UsdShade

    points = np.asarray(mesh.GetPointsAttr().Get() or [], dtype=np.float64).reshape(-1, 3)
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get() or [], dtype=np.int64)
    corner_points = np.asarray(mesh.GetFaceVertexIndicesAttr().Get() or [], dtype=np.int64)
    if len(points) == 0 or len(counts) == 0:
        return []
    if counts.sum() != len(corner_points) or counts.min() < 0:
        raise ConversionError(errors.CORRUPT_FILE, f"USD mesh '{mesh.GetPath()}' has face counts that do not match its indices.")
    triangles = fan_triangles(counts)
    if mesh.GetOrientationAttr().Get() == UsdGeom.Tokens.leftHanded:
        triangles = triangles[:, [0, 2, 1]]
    uvs = _corner_uvs(mesh, counts, corner_points)
    face_of_triangle = np.repeat(np.arange(len(counts)), np.maximum(counts - 2, 0))
    binding = UsdShade.MaterialBindingAPI(mesh.GetPrim())
    groups = [(binding.ComputeBoundMaterial()[0], None)]
    for subset in binding.GetMaterialBindSubsets():
        faces = np.asarray(subset.GetIndicesAttr().Get() or [], dtype=np.int64)
        groups.append((UsdShade.MaterialBindingAPI(subset.GetPrim()).ComputeBoundMaterial()[0], faces))
    taken = np.zeros(len(counts), dtype=bool)
    prims = []
    for material, faces in reversed(groups):  # subsets first; the mesh's binding takes the rest
        selected = np.zeros(len(counts), dtype=bool)
        if faces is None:
            selected = ~taken
        else:
            selected[faces[(faces >= 0) & (faces < len(counts))]] = True
            selected &= ~taken
        taken |= selected
        chosen = triangles[selected[face_of_triangle]]
        if len(chosen) == 0:
            continue
        spec = _material(material, directory, report)
        key = str(material.GetPath()) if material else "default"
        index = parts.material(key, spec, uvs is not None)
        prims.append(corner_primitive(points, corner_points, chosen, index, uvs))
    return prims


def _corner_uvs(mesh, counts: np.ndarray, corner_points: np.ndarray) -> np.ndarray | None:
    from pxr import Sdf, UsdGeom

    api = UsdGeom.PrimvarsAPI(mesh.GetPrim())
    primvar = api.GetPrimvar("st")
    if not primvar or not primvar.HasValue():
        primvar = next((p for p in api.GetPrimvars() if p.GetTypeName() == Sdf.ValueTypeNames.TexCoord2fArray), None)
    if primvar is None or not primvar.HasValue():
        return None
    values = np.asarray(primvar.ComputeFlattened() or [], dtype=np.float64).reshape(-1, 2)
    mode = primvar.GetInterpolation()
    if mode == UsdGeom.Tokens.faceVarying and len(values) == len(corner_points):
        uvs = values
    elif mode in (UsdGeom.Tokens.vertex, UsdGeom.Tokens.varying) and len(values) > corner_points.max():
        uvs = values[corner_points]
    elif mode == UsdGeom.Tokens.uniform and len(values) == len(counts):
        uvs = np.repeat(values, counts, axis=0)
    else:
        return None
    uvs = uvs.copy()
    uvs[:, 1] = 1.0 - uvs[:, 1]  # USD's v points up; glTF's points down
    return uvs


def _material(material, directory: Path, report: Report) -> MaterialSpec:
    """A UsdPreviewSurface's base colour (value or UsdUVTexture), roughness and metallic."""
    from pxr import UsdShade

    if not material:
        return MaterialSpec("default")
    shader = material.ComputeSurfaceSource()[0]
    if not shader or shader.GetIdAttr().Get() != "UsdPreviewSurface":
        report.warn(f"USD material '{material.GetPrim().GetName()}' is not a UsdPreviewSurface: a plain colour is used")
        return MaterialSpec(material.GetPrim().GetName())
    spec = MaterialSpec(material.GetPrim().GetName(), roughness=_float(shader, "roughness", 0.5),
                        metallic=_float(shader, "metallic", 0.0))
    diffuse = shader.GetInput("diffuseColor")
    if diffuse:
        source = diffuse.GetConnectedSources()[0] if diffuse.HasConnectedSource() else []
        if source:
            texture = UsdShade.Shader(source[0].source.GetPrim())
            spec.texture, spec.texture_name = _texture(texture, directory)
        elif diffuse.Get() is not None:
            r, g, b = (float(c) for c in diffuse.Get())
            spec.color = (r, g, b, _float(shader, "opacity", 1.0))
    return spec


def _texture(texture, directory: Path) -> tuple[bytes | None, str]:
    file_input = texture.GetInput("file")
    asset = file_input.Get() if file_input else None
    if asset is None or not asset.resolvedPath:
        return None, ""
    resolved = Path(asset.resolvedPath).resolve()
    if directory.resolve() not in resolved.parents or not resolved.is_file():
        return None, asset.path  # cannot happen after check_asset_paths; never read outside
    return resolved.read_bytes(), asset.path


def _float(shader, name: str, default: float) -> float:
    value = shader.GetInput(name).Get() if shader.GetInput(name) else None
    return float(value) if value is not None else default
