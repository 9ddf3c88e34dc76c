"""usdz_checks: is a USDZ file one that iPhone Quick Look will open, and what does it contain?

`check_usdz` returns human-readable errors (an empty list means valid), in four passes:
1. the package rules of the USDZ spec, read from the zip's own headers (stored, unencrypted,
   data 64-byte aligned, a binary usdc root first, only layer and image entries);
2. sublayers, references and payloads of every layer must stay inside the package; this runs
   on the layers alone, before the stage is composed, so checking a hostile package never opens
   a file outside it (it stops here if one escapes);
3. `pxr.UsdValidation` with every validator keyword the installed usd-core registers (core,
   geometry and its subsets, shading, skinning, the usdz package rules, and lux/media/physics,
   which cost nothing on a model and catch prims we never meant to write); issues of error
   severity count, and a test fails when a usd-core upgrade brings a keyword not listed here;
4. the ARKit profile rules that usd-core 26 no longer ships (`UsdUtils.ComplianceChecker`'s
   ARKit checks are gone from Python), as that checker defined them: stage metadata, a single
   layer, only the prim types ARKit renders (no PointInstancer, curves, NURBS or lights), shaders
   identified by `info:id` from the allowed set with each connected input fed by exactly one
   shader, material bindings that name a real Material, every asset path resolving to an entry
   of the package, textures PNG/JPEG of at most 2048 px (from the header).

`usdz_stats` measures a package (world bounding box in metres, triangles, materials, textures)
for validation, tests and the report.
"""
from __future__ import annotations

import posixpath
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from pxr import Sdf, Tf, Usd, UsdGeom, UsdShade, UsdValidation

ALIGNMENT = 64
MAX_TEXTURE_SIZE = 2048
LAYER_SUFFIXES = (".usdc", ".usda")
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
# The shader ids ARKit renders, spelled as USD's shader registry spells them ("UsdTransform2d",
# lower-case d: the upper-case spelling some documents use names no shader at all).
ALLOWED_SHADERS = ("UsdPreviewSurface", "UsdUVTexture", "UsdTransform2d", "UsdPrimvarReader_float",
                   "UsdPrimvarReader_float2", "UsdPrimvarReader_float3", "UsdPrimvarReader_float4",
                   "UsdPrimvarReader_int", "UsdPrimvarReader_string", "UsdPrimvarReader_normal",
                   "UsdPrimvarReader_point", "UsdPrimvarReader_vector", "UsdPrimvarReader_matrix")
VALIDATION_KEYWORDS = (
    "UsdCoreValidators",
    "UsdGeomSubset",
    "UsdGeomValidators",
    "UsdLuxValidators",
    "UsdMediaValidators",
    "UsdPhysicsArticulationRootAPI",
    "UsdPhysicsCollisionAPI",
    "UsdPhysicsJoint",
    "UsdPhysicsRigidBodyAPI",
    "UsdPhysicsValidators",
    "UsdShadeValidators",
    "UsdSkelValidators",
    "UsdUtilsValidators",
    "UsdzValidators",
)
# ComplianceChecker's ARKitPrimTypeChecker list: every core type but point instancers, curves,
# NURBS and lights.
ALLOWED_PRIM_TYPES = (
    "", "Scope", "Xform", "Camera", "Shader", "Material", "Mesh", "Sphere", "Cube", "Cylinder",
    "Cone", "Capsule", "GeomSubset", "Points", "SkelRoot", "Skeleton", "SkelAnimation",
    "BlendShape", "SpatialAudio",
)
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_USDC_MAGIC = b"PXR-USDC"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def check_usdz(path: Path) -> list[str]:
    """Every reason `path` is not a valid ARKit USDZ; empty when it is valid.

    Messages name entries and prims, never the server path of the file (they reach reports)."""
    path = Path(path)
    return [_without_server_path(error, path) for error in _errors(path)]


def _errors(path: Path) -> list[str]:
    errors, names = _check_zip(path)
    if names is None:
        return errors
    try:
        root_layer = _open_fresh(path)
    except Tf.ErrorException as exc:
        return errors + [f"the root layer cannot be opened by USD: {_usd_message(exc)}"]
    if root_layer is None:
        return errors + ["the root layer cannot be opened by USD"]
    escapes = _check_layer_references(root_layer, names)
    if escapes:
        return errors + escapes  # composing the stage would read outside the package
    try:
        stage = Usd.Stage.Open(root_layer)
    except Tf.ErrorException as exc:
        return errors + [f"the stage cannot be composed: {_usd_message(exc)}"]
    errors += _check_validators(stage)
    errors += _check_stage_metadata(stage)
    errors += _check_single_layer(stage)
    errors += _check_prim_types(stage)
    errors += _check_shaders(stage)
    errors += _check_material_bindings(stage)
    errors += _check_asset_paths(stage, names)
    errors += _check_images(path, names)
    return errors


def _open_fresh(path: Path) -> Sdf.Layer | None:
    """The package's root layer as it is on disk now, even if a stale copy is still open."""
    layer = Sdf.Layer.Find(str(path))
    if layer is not None:
        layer.Reload(force=True)
        return layer
    return Sdf.Layer.FindOrOpen(str(path))


# --- 1. the zip ------------------------------------------------------------------------------


def _check_zip(path: Path) -> tuple[list[str], list[str] | None]:
    """Package rules from the zip headers; the entry names, or None when it is no zip at all."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return [f"not a readable zip archive: {exc}"], None
    errors: list[str] = []
    with archive, open(path, "rb") as raw:
        entries = archive.infolist()
        if not entries:
            return ["the package is empty"], None
        errors += _check_root_entry(archive, entries[0])
        for info in entries:
            errors += _check_entry(info, raw)
        names = [info.filename for info in entries]
        errors += [f"entry {name!r} appears more than once" for name in sorted(set(names)) if names.count(name) > 1]
    return errors, names


def _check_root_entry(archive: zipfile.ZipFile, first: zipfile.ZipInfo) -> list[str]:
    """The first entry is the root layer; ARKit wants it binary (crate files start "PXR-USDC")."""
    if not first.filename.lower().endswith(".usdc"):
        return [f"first entry {first.filename!r} must be the binary .usdc root layer"]
    try:
        with archive.open(first) as member:
            magic = member.read(len(_USDC_MAGIC))
    except (RuntimeError, NotImplementedError, zipfile.BadZipFile, OSError) as exc:
        return [f"first entry {first.filename!r} cannot be read: {exc}"]
    if magic != _USDC_MAGIC:
        return [f"first entry {first.filename!r} is not a binary usdc layer"]
    return []


def _check_entry(info: zipfile.ZipInfo, raw) -> list[str]:
    name = info.filename
    errors = []
    if info.compress_type != zipfile.ZIP_STORED:
        errors.append(f"entry {name!r} is compressed (method {info.compress_type}); entries must be stored")
    if info.flag_bits & 0x1:
        errors.append(f"entry {name!r} is encrypted")
    if info.is_dir():
        errors.append(f"entry {name!r} is a directory; a package holds files only")
    elif Path(name).suffix.lower() not in (*LAYER_SUFFIXES, *IMAGE_FORMATS):
        errors.append(f"entry {name!r} is not a .usdc/.usda layer or a .png/.jpg/.jpeg image")
    if not _is_inside(name):
        errors.append(f"entry name {name!r} is not a plain relative path")
    offset = _data_offset(info, raw)
    if offset is None:
        errors.append(f"entry {name!r} has no valid local file header")
    elif offset % ALIGNMENT:
        errors.append(f"entry {name!r} data starts at byte {offset}, not 64-byte aligned")
    return errors


def _data_offset(info: zipfile.ZipInfo, raw) -> int | None:
    """Where the entry's data starts, from its local header (whose extra field may differ from
    the central directory's: that padding is exactly how writers align data)."""
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        return None
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_SIGNATURE:
        return None
    name_length, extra_length = fields[9], fields[10]
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


def _is_inside(name: str) -> bool:
    """A relative POSIX path that stays inside the package (no scheme, `..`, backslash, `%`)."""
    return bool(name) and not (
        name.startswith("/")
        or "\\" in name
        or "%" in name
        or _SCHEME.match(name)
        or ".." in name.split("/")
    )


# --- 2. composition arcs, before anything is composed -----------------------------------------


def _check_layer_references(root_layer: Sdf.Layer, names: list[str]) -> list[str]:
    """Sublayers, references and payloads of every layer in the package must stay inside it.

    Walked layer by layer with Sdf alone, so nothing outside the package is ever opened."""
    errors: list[str] = []
    seen = {root_layer.identifier}
    pending = [(root_layer, names[0])]
    while pending:
        layer, member = pending.pop()
        for asset in layer.GetCompositionAssetDependencies():
            if not asset:
                continue  # an internal reference (to a prim of this same layer) names no file
            inner = _package_member(posixpath.dirname(member), asset)
            if inner is None:
                errors.append(f"layer {member!r} refers to {asset!r}, outside the package")
            elif inner not in names:
                errors.append(f"layer {member!r} refers to {asset!r}, which is not in the package")
            elif (identifier := layer.ComputeAbsolutePath(asset)) not in seen:
                seen.add(identifier)
                try:
                    sublayer = Sdf.Layer.FindOrOpen(identifier)
                except Tf.ErrorException as exc:
                    sublayer, reason = None, f": {_usd_message(exc)}"
                else:
                    reason = ""
                if sublayer is None:
                    errors.append(f"layer {inner!r} in the package cannot be opened{reason}")
                else:
                    pending.append((sublayer, inner))
    return errors


def _package_member(directory: str, asset: str) -> str | None:
    """The package entry an asset path names from a layer in `directory`; None if it escapes."""
    if not _is_inside(asset):
        return None
    return posixpath.normpath(posixpath.join(directory, asset))


# --- 3. USD validators -----------------------------------------------------------------------


def _check_validators(stage: Usd.Stage) -> list[str]:
    context = UsdValidation.ValidationContext(keywords=list(VALIDATION_KEYWORDS))
    return [
        f"USD validation ({issue.GetValidator().GetMetadata().name}): {issue.GetMessage()}"
        for issue in context.Validate(stage)
        if issue.GetType() == UsdValidation.ValidationErrorType.Error
    ]


# --- 4. ARKit profile ------------------------------------------------------------------------


def _check_stage_metadata(stage: Usd.Stage) -> list[str]:
    errors = []
    if not UsdGeom.StageHasAuthoredMetersPerUnit(stage):
        errors.append("metersPerUnit is not set (USD would read the model as centimetres)")
    elif UsdGeom.GetStageMetersPerUnit(stage) != 1.0:
        errors.append(f"metersPerUnit is {UsdGeom.GetStageMetersPerUnit(stage)}, not 1")
    if not stage.HasAuthoredMetadata("upAxis"):
        errors.append("upAxis is not set")
    elif UsdGeom.GetStageUpAxis(stage) != UsdGeom.Tokens.y:
        errors.append(f"upAxis is {UsdGeom.GetStageUpAxis(stage)!r}, not 'Y'")
    if not stage.GetDefaultPrim():
        errors.append("defaultPrim is not set (or names no prim)")
    return errors


def _check_single_layer(stage: Usd.Stage) -> list[str]:
    """ARKit reads one layer: the root (session layers live in memory and do not count)."""
    layers = [layer for layer in stage.GetUsedLayers() if layer.realPath]
    if len(layers) > 1:
        return [f"the stage composes {len(layers)} layers; ARKit reads a single usdc layer"]
    return []


def _check_prim_types(stage: Usd.Stage) -> list[str]:
    return [
        f"prim {prim.GetPath()} is a {prim.GetTypeName()}, which ARKit does not render"
        for prim in stage.Traverse(Usd.PrimAllPrimsPredicate)
        if prim.GetTypeName() not in ALLOWED_PRIM_TYPES
    ]


def _check_shaders(stage: Usd.Stage) -> list[str]:
    errors = []
    for prim in stage.Traverse():
        if not prim.IsA(UsdShade.Shader):
            continue
        shader = UsdShade.Shader(prim)
        if shader.GetImplementationSource() != UsdShade.Tokens.id:
            errors.append(f"shader {prim.GetPath()} is not identified by info:id "
                          f"(implementation source {shader.GetImplementationSource()!r})")
        shader_id = shader.GetShaderId()
        if shader_id not in ALLOWED_SHADERS:
            errors.append(
                f"shader {prim.GetPath()} is {shader_id or 'not identified by info:id'}; "
                "Quick Look renders only UsdPreviewSurface, UsdUVTexture, UsdTransform2d and UsdPrimvarReader_*"
            )
        errors += _check_connections(shader)
    return errors


def _check_connections(shader: UsdShade.Shader) -> list[str]:
    """Each connected input has one source, and that source is a shader (or the material)."""
    errors = []
    for shader_input in shader.GetInputs():
        connections = shader_input.GetAttr().GetConnections()
        if not connections:
            continue
        where = shader_input.GetAttr().GetPath()
        if len(connections) > 1:
            errors.append(f"shader input {where} has {len(connections)} connections; only one is allowed")
        sources, invalid = shader_input.GetConnectedSources()
        bad = [str(path) for path in invalid] + [
            str(info.source.GetPath()) for info in sources
            if not (info.source.GetPrim().IsA(UsdShade.Shader) or info.source.GetPrim().IsA(UsdShade.Material))
        ]
        if bad:
            errors.append(f"shader input {where} is connected to {bad[0]}, which is not a shader")
    return errors


def _check_material_bindings(stage: Usd.Stage) -> list[str]:
    """Every `material:binding*` relationship names a Material that exists (collection bindings
    also a collection), as ARKit's binding checker required."""
    errors = []
    for prim in stage.Traverse():
        for rel in prim.GetRelationships():
            if not rel.GetName().startswith(UsdShade.Tokens.materialBinding):
                continue
            targets = rel.GetTargets()
            if len(targets) == 1:
                binding = UsdShade.MaterialBindingAPI.DirectBinding(rel)
                valid = bool(binding.GetMaterial())
            elif len(targets) == 2:
                binding = UsdShade.MaterialBindingAPI.CollectionBinding(rel)
                valid = bool(binding.GetMaterial()) and bool(binding.GetCollection())
            else:
                valid = False
            if not valid:
                errors.append(f"material binding {rel.GetPath()} does not name a valid material ({len(targets)} targets)")
    return errors


def _check_asset_paths(stage: Usd.Stage, names: list[str]) -> list[str]:
    """Every asset-valued attribute (texture files, mostly) resolves to an entry of the package."""
    prefix = stage.GetRootLayer().realPath + "["
    errors = []
    for where, asset in _asset_values(stage):
        resolved = asset.resolvedPath
        if not _is_inside(asset.path):
            errors.append(f"{where} refers to {asset.path!r}, outside the package")
        elif not (resolved.startswith(prefix) and resolved[len(prefix):-1] in names):
            errors.append(f"{where} refers to {asset.path!r}, which is not in the package")
    return errors


def _asset_values(stage: Usd.Stage):
    """(attribute path, SdfAssetPath) for every asset value authored on the stage, at any time."""
    asset_types = (Sdf.ValueTypeNames.Asset, Sdf.ValueTypeNames.AssetArray)
    for prim in stage.Traverse(Usd.PrimAllPrimsPredicate):
        for attr in prim.GetAttributes():
            if attr.GetTypeName() not in asset_types:
                continue
            times = [Usd.TimeCode.Default(), *attr.GetTimeSamples()]
            for time in times:
                value = attr.Get(time)
                if value is None:
                    continue
                for asset in value if attr.GetTypeName() == Sdf.ValueTypeNames.AssetArray else [value]:
                    yield str(attr.GetPath()), asset


def _check_images(path: Path, names: list[str]) -> list[str]:
    """Images are what their names say (PNG or JPEG) and at most 2048 px a side (header only)."""
    errors = []
    with zipfile.ZipFile(path) as archive:
        for name in names:
            expected = IMAGE_FORMATS.get(Path(name).suffix.lower())
            if expected is None:
                continue
            try:
                with archive.open(name) as member, Image.open(member) as image:
                    found, (width, height) = image.format, image.size
            except (OSError, RuntimeError, Image.DecompressionBombError, zipfile.BadZipFile) as exc:
                errors.append(f"image {name!r} cannot be read: {exc}")
                continue
            if found != expected:
                errors.append(f"image {name!r} is {found}, not the {expected} its name says")
            if max(width, height) > MAX_TEXTURE_SIZE:
                errors.append(f"image {name!r} is {width}x{height}; Quick Look allows at most {MAX_TEXTURE_SIZE} px")
    return errors


# --- messages --------------------------------------------------------------------------------


def _usd_message(exc: Exception) -> str:
    """The last of USD's error texts, without its source-file location."""
    text = str(exc).strip().rsplit(" : ", 1)[-1].strip()
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] == "'" else text


def _without_server_path(message: str, path: Path) -> str:
    for spelling in sorted({str(path.resolve()), str(path.absolute()), str(path)}, key=len, reverse=True):
        message = message.replace(spelling, path.name)
    return message


# --- statistics ------------------------------------------------------------------------------


def usdz_stats(path: Path) -> dict:
    """The package as USD measures it: world bounding box in metres (default purpose),
    triangles after triangulation, meshes, materials and the texture files the shaders read."""
    stage = Usd.Stage.Open(_open_fresh(Path(path)))
    metres = UsdGeom.GetStageMetersPerUnit(stage)
    cache = UsdGeom.BBoxCache(Usd.TimeCode.Default(), [UsdGeom.Tokens.default_])
    box = cache.ComputeWorldBound(stage.GetPseudoRoot()).ComputeAlignedRange()
    low, high = (list(v * metres) for v in (box.GetMin(), box.GetMax())) if not box.IsEmpty() else (None, None)
    meshes = [
        UsdGeom.Mesh(prim)
        for prim in Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies())
        if prim.IsA(UsdGeom.Mesh) and UsdGeom.Imageable(prim).ComputeVisibility() != UsdGeom.Tokens.invisible
    ]
    textures = {
        str(UsdShade.Shader(prim).GetInput("file").Get().path)
        for prim in stage.Traverse()
        if prim.IsA(UsdShade.Shader)
        and UsdShade.Shader(prim).GetShaderId() == "UsdUVTexture"
        and UsdShade.Shader(prim).GetInput("file")
    }
    return {
        "size": [h - l for l, h in zip(low, high)] if low else None,
        "bounds": [low, high] if low else None,
        "triangles": sum(_triangles(mesh) for mesh in meshes),
        "meshes": len(meshes),
        "materials": sum(1 for prim in stage.Traverse() if prim.IsA(UsdShade.Material)),
        "textures": sorted(textures),
        "meters_per_unit": metres,
        "up_axis": str(UsdGeom.GetStageUpAxis(stage)),
    }


def _triangles(mesh: UsdGeom.Mesh) -> int:
    """Triangles after fan triangulation: a face of n corners makes n - 2."""
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get() or [], dtype=np.int64)
    return int(np.maximum(counts - 2, 0).sum())
