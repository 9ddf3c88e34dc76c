"""usdz_writer: the scene as an ARKit-ready USDZ for iPhone Quick Look (the `export_usdz` step
runs it in a process that loaded usd-core early).

What Quick Look needs (../shared/reference/PLATFORMS.md): a binary usdc root layer,
`metersPerUnit = 1`, `upAxis = "Y"`, a defaultPrim, UsdPreviewSurface materials fed only by
UsdUVTexture / UsdPrimvarReader_float2, JPEG/PNG textures inside the package, and a zip whose
entries are stored and 64-byte aligned. `usdz_checks.check_usdz` verifies all of it.

Decisions, and why:
- Packed metallic-roughness / occlusion textures are read channel by channel (`outputs:b` →
  metallic, `outputs:g` → roughness, `outputs:r` → occlusion) from the one glTF image instead of
  being split into three files. Quick Look honours UsdUVTexture's per-channel outputs and its
  `scale`/`bias`: the USDZ exporter of three.js, which `<model-viewer>` uses for its Quick Look
  files, has shipped exactly this wiring for years. One image keeps the package (and phone
  memory) at a third of the size of split maps, and `scale` carries the glTF factors, so a
  factor below 1 over a texture is not lost.
- KHR_texture_transform arrives baked into the UVs (`load_gltf`, at load), never as a
  UsdTransform2d: three.js's exporter carries a correction for Quick Look applying that node in
  another order, and baked UVs look the same in every viewer and in the GLB. Wrap modes map one
  to one (repeat / clamp / mirror) per texture slot.
- KHR_materials_*: `ior` and the clearcoat factors have UsdPreviewSurface inputs and are carried,
  emissive_strength is baked into the emissive colour; the others (sheen, transmission, volume,
  specular, iridescence, anisotropy, unlit, …) have no input and each is a report warning
  ("USDZ: sheen dropped from material 'fabric'").
- Geometry is baked into world space: one Xform per placement (it only carries the node's
  name) holding one UsdGeomMesh per batch of its primitives, several materials bound through a
  `materialBind` GeomSubset partition. USD puts doubleSided on the mesh and a primvar spans all
  of a mesh's points, so primitives that differ in those get meshes of their own. Baked points
  settle mirrored placements ourselves (winding reversed where the determinant is negative, as
  glTF defines it) instead of trusting each viewer to.
- Baked placements, not USD scenegraph instancing — measured (bench/usdz_export.py, which
  writes the instanced variant: one `class` prototype, instanceable internal references):
  the CesiumMilkTruck (two wheels share a mesh) is 363,121 bytes baked vs 356,776 instanced
  (-1.7%); a synthetic chair whose 16k-triangle leg is placed four times is 860,879 vs 271,416
  (-68%). Instancing wins on bytes whenever a heavy part repeats, but USD (and anything that
  reads its extents) measures an instance by transforming its prototype's box, so a rotated
  placement inflates the product's size: +1.4% on the truck, +3.7% on the chair, against the
  0.1% our size check promises ("wrong size in AR" is the top complaint). The 100k triangle
  budget counts every placement, so baking never exceeds it; PLATFORMS.md documents no Quick
  Look support for instancing, while flat meshes are read everywhere. Revisit (instancing only
  placements that are translations, whose boxes stay exact) if repeated parts become common.
- The package is written with `Sdf.ZipFileWriter` (USD's own writer: stored, 64-byte aligned),
  not `UsdUtils.CreateNewARKitUsdzPackage`: the latter re-homes every texture under numbered
  folders ("0/…") and rewrites the asset paths, and flattens layers; our stage is a single layer
  with no composition arcs, so writing it ourselves keeps names predictable and the root first.
- Against three.js `USDZExporter` on every corpus model (same scenes, export only, median of 3,
  bench/results/usdz_export.json): faster and smaller on all 18 — on the three models over 100k
  triangles 7.6 s vs 62.5 s and 38.7 vs 128.3 MB (1.9M triangles), 2.0 s vs 30.8 s and 12.4 vs
  50.5 MB (640k), 3.2 s vs 40.5 s and 21.1 vs 68.7 MB (482k); three.js's packages also fail two
  ARKit rules (a usda root layer, geometry in separate layers).
"""
from __future__ import annotations

import hashlib
import math
import tempfile
from pathlib import Path

import numpy as np
from pxr import Gf, Kind, Sdf, Tf, Usd, UsdGeom, UsdShade, Vt

from .report import Report
from .scene import Material, Primitive, Scene, Texture, normal_matrix, transform_points

ROOT = "/Root"
MATERIALS = "Materials"
ROOT_LAYER = "model.usdc"
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg"}
_Channels = tuple[float, float, float, float]
_ONE: _Channels = (1.0, 1.0, 1.0, 1.0)


def write_usdz(scene: Scene, path: Path, report: Report) -> None:
    """Write `scene` (metres, +Y up, textures encoded) to the USDZ package at `path`.

    Scratch files live in a temporary folder beside `path`, so nothing is written outside the
    job's own directory.
    """
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix=".usdz-", dir=path.parent) as scratch:
        scratch = Path(scratch)
        stage = Usd.Stage.CreateNew(str(scratch / ROOT_LAYER))
        _define_root(stage)
        used = _used_materials(scene)
        texture_files = _write_textures(scene, used, scratch)
        materials = _define_materials(stage, scene, used, texture_files, report)
        _define_instances(stage, scene, materials, report)
        stage.GetRootLayer().Save()
        _package(path, scratch, [ROOT_LAYER, *dict.fromkeys(texture_files.values())])


def _define_root(stage: Usd.Stage) -> None:
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    root = UsdGeom.Xform.Define(stage, ROOT).GetPrim()
    Usd.ModelAPI(root).SetKind(Kind.Tokens.component)
    stage.SetDefaultPrim(root)
    stage.GetRootLayer().documentation = "Written by Vitrine3D for AR Quick Look"


def _used_materials(scene: Scene) -> list[int]:
    """Materials of placed, non-empty primitives, in scene order (unused ones are not written)."""
    return sorted({prim.material for _, prim in scene.world_primitives() if prim.triangle_count})


def _write_textures(scene: Scene, used: list[int], scratch: Path) -> dict[int, str]:
    """Write the encoded bytes of every texture the used materials need; index → package path.

    Identical images (a glTF ORM image used for both metallic-roughness and occlusion, or one
    image loaded once per material) are stored once."""
    needed = sorted({t for m in used for t in scene.materials[m].texture_slots().values()})
    (scratch / "textures").mkdir()
    files: dict[int, str] = {}
    by_content: dict[bytes, str] = {}
    for index in needed:
        texture = scene.textures[index]
        if texture.encoded is None or texture.mime_type not in _EXTENSIONS:
            raise ValueError(
                f"texture {index} ({texture.name!r}) is not encoded as PNG/JPEG: "
                "the textures step must run before the USDZ is written"
            )
        digest = hashlib.sha256(texture.encoded).digest()
        if digest not in by_content:
            # A valid identifier: USD's package validators turn entry names into SdfPaths.
            stem = Tf.MakeValidIdentifier(Path(texture.name).stem[:40] or "image")
            by_content[digest] = f"textures/{stem}_{index}.{_EXTENSIONS[texture.mime_type]}"
            (scratch / by_content[digest]).write_bytes(texture.encoded)
        files[index] = by_content[digest]
    return files


class _Names:
    """Valid, unique USD prim names among siblings."""

    def __init__(self, *reserved: str) -> None:
        self._taken: set[str] = set(reserved)

    def __call__(self, wanted: str) -> str:
        base = Tf.MakeValidIdentifier(wanted or "unnamed")
        name, n = base, 1
        while name in self._taken:
            name, n = f"{base}_{n}", n + 1
        self._taken.add(name)
        return name


# --- materials -------------------------------------------------------------------------------


def _define_materials(
    stage: Usd.Stage,
    scene: Scene,
    used: list[int],
    texture_files: dict[int, str],
    report: Report,
) -> dict[int, UsdShade.Material]:
    UsdGeom.Scope.Define(stage, f"{ROOT}/{MATERIALS}")
    names = _Names()
    written = {}
    for index in used:
        material = scene.materials[index]
        path = f"{ROOT}/{MATERIALS}/{names(material.name)}"
        written[index] = _MaterialWriter(stage, path, scene.textures, texture_files, report).write(material)
    return written


class _MaterialWriter:
    """One glTF metallic-roughness material as a UsdPreviewSurface network."""

    def __init__(self, stage: Usd.Stage, path: str, textures: list[Texture], files: dict[int, str], report: Report):
        self.stage, self.path, self.textures, self.files, self.report = stage, path, textures, files, report
        self.material = UsdShade.Material.Define(stage, path)
        self.surface = UsdShade.Shader.Define(stage, f"{path}/PreviewSurface")
        self._st_reader: UsdShade.Shader | None = None
        self._wrap: dict[str, tuple[str, str]] = {}

    def write(self, m: Material) -> UsdShade.Material:
        self._wrap = m.texture_wrap
        self.surface.CreateIdAttr("UsdPreviewSurface")
        self._input("useSpecularWorkflow", Sdf.ValueTypeNames.Int).Set(0)
        self.material.CreateSurfaceOutput().ConnectToSource(self.surface.ConnectableAPI(), "surface")
        self._base_color_and_opacity(m)
        self._metallic_roughness(m)
        self._normal(m)
        self._occlusion(m)
        self._emissive(m)
        self._extensions(m)
        return self.material

    def _input(self, name: str, type_name: Sdf.ValueTypeName) -> UsdShade.Input:
        return self.surface.CreateInput(name, type_name)

    def _base_color_and_opacity(self, m: Material) -> None:
        r, g, b, a = m.base_color_factor
        texture = None
        if m.base_color_texture is not None:
            texture = self._texture("baseColorTexture", m.base_color_texture, "sRGB", scale=(r, g, b, a))
            self._input("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(texture.ConnectableAPI(), "rgb")
        else:
            self._input("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(Gf.Vec3f(r, g, b))
        if m.alpha_mode == "OPAQUE":
            return
        opacity = self._input("opacity", Sdf.ValueTypeNames.Float)
        if texture is not None and self._has_alpha(self.textures[m.base_color_texture]):
            opacity.ConnectToSource(texture.ConnectableAPI(), "a")  # alpha × the factor's, via scale
        else:
            # No alpha channel (the textures step encodes an all-opaque alpha as JPEG): the
            # factor is the whole opacity.
            opacity.Set(float(a))
        if m.alpha_mode == "MASK":
            self._input("opacityThreshold", Sdf.ValueTypeNames.Float).Set(float(m.alpha_cutoff))

    @staticmethod
    def _has_alpha(texture: Texture) -> bool:
        return texture.mime_type == "image/png" and texture.has_alpha

    def _metallic_roughness(self, m: Material) -> None:
        metallic = self._input("metallic", Sdf.ValueTypeNames.Float)
        roughness = self._input("roughness", Sdf.ValueTypeNames.Float)
        if m.metallic_roughness_texture is None:
            metallic.Set(float(m.metallic_factor))
            roughness.Set(float(m.roughness_factor))
            return
        # glTF packs roughness in G and metallic in B; the factors multiply them.
        scale = (1.0, m.roughness_factor, m.metallic_factor, 1.0)
        texture = self._texture("metallicRoughnessTexture", m.metallic_roughness_texture, "raw", scale=scale)
        metallic.ConnectToSource(texture.ConnectableAPI(), "b")
        roughness.ConnectToSource(texture.ConnectableAPI(), "g")

    def _normal(self, m: Material) -> None:
        if m.normal_texture is None:
            return
        # Unpack [0, 1] to [-1, 1]; glTF's normal scale stretches x and y only. A scale of 1
        # gives exactly the (2, 2, 2, 1) / (-1, -1, -1, 0) USD's normal-map validator asks for.
        s = float(m.normal_scale)
        texture = self._texture(
            "normalTexture", m.normal_texture, "raw", scale=(2 * s, 2 * s, 2.0, 1.0), bias=(-s, -s, -1.0, 0.0)
        )
        self._input("normal", Sdf.ValueTypeNames.Normal3f).ConnectToSource(texture.ConnectableAPI(), "rgb")

    def _occlusion(self, m: Material) -> None:
        if m.occlusion_texture is None:
            return
        # glTF: occlusion = 1 + strength * (sample - 1) = strength * sample + (1 - strength).
        s = float(m.occlusion_strength)
        texture = self._texture(
            "occlusionTexture", m.occlusion_texture, "raw", scale=(s, s, s, 1.0), bias=(1 - s, 1 - s, 1 - s, 0.0)
        )
        self._input("occlusion", Sdf.ValueTypeNames.Float).ConnectToSource(texture.ConnectableAPI(), "r")

    def _emissive(self, m: Material) -> None:
        # KHR_materials_emissive_strength only multiplies the factor: baked in, nothing lost.
        strength = _number(m.extensions.get("KHR_materials_emissive_strength", {}), "emissiveStrength", 1.0)
        factor = tuple(float(x) * strength for x in m.emissive_factor)
        if not any(factor):
            return  # glTF multiplies the emissive texture by the factor: black either way
        emissive = self._input("emissiveColor", Sdf.ValueTypeNames.Color3f)
        if m.emissive_texture is None:
            emissive.Set(Gf.Vec3f(*factor))
            return
        texture = self._texture("emissiveTexture", m.emissive_texture, "sRGB", scale=(*factor, 1.0))
        emissive.ConnectToSource(texture.ConnectableAPI(), "rgb")

    def _extensions(self, m: Material) -> None:
        """KHR_materials_* that UsdPreviewSurface can express are carried; the rest is reported."""
        for name, data in m.extensions.items():
            short = name.removeprefix("KHR_materials_")[:40]  # the key comes from the upload
            if name == "KHR_materials_ior":
                self._input("ior", Sdf.ValueTypeNames.Float).Set(_number(data, "ior", 1.5))
            elif name == "KHR_materials_clearcoat":
                self._clearcoat(m, data)
            elif name != "KHR_materials_emissive_strength":
                self.report.warn(f"USDZ: {short} dropped from material {m.name!r}")

    def _clearcoat(self, m: Material, data: dict) -> None:
        # The factors map one to one; the extension's own textures are not loaded into the scene.
        self._input("clearcoat", Sdf.ValueTypeNames.Float).Set(_number(data, "clearcoatFactor", 0.0))
        self._input("clearcoatRoughness", Sdf.ValueTypeNames.Float).Set(_number(data, "clearcoatRoughnessFactor", 0.0))
        for key in ("clearcoatTexture", "clearcoatRoughnessTexture", "clearcoatNormalTexture"):
            if key in data:
                self.report.warn(f"USDZ: clearcoat {key} dropped from material {m.name!r} (its factor is kept)")

    def _texture(
        self,
        slot: str,
        index: int,
        color_space: str,
        scale: _Channels = _ONE,
        bias: _Channels = (0.0, 0.0, 0.0, 0.0),
    ) -> UsdShade.Shader:
        shader = UsdShade.Shader.Define(self.stage, f"{self.path}/{slot}")
        shader.CreateIdAttr("UsdUVTexture")
        shader.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(Sdf.AssetPath(self.files[index]))
        shader.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(self._st().ConnectableAPI(), "result")
        wrap_s, wrap_t = self._wrap.get(slot, ("repeat", "repeat"))
        shader.CreateInput("wrapS", Sdf.ValueTypeNames.Token).Set(wrap_s)
        shader.CreateInput("wrapT", Sdf.ValueTypeNames.Token).Set(wrap_t)
        shader.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set(color_space)
        if tuple(scale) != _ONE:
            shader.CreateInput("scale", Sdf.ValueTypeNames.Float4).Set(Gf.Vec4f(*scale))
        if any(bias):
            shader.CreateInput("bias", Sdf.ValueTypeNames.Float4).Set(Gf.Vec4f(*bias))
        for output, type_name in (("rgb", Sdf.ValueTypeNames.Float3), ("r", Sdf.ValueTypeNames.Float),
                                  ("g", Sdf.ValueTypeNames.Float), ("b", Sdf.ValueTypeNames.Float),
                                  ("a", Sdf.ValueTypeNames.Float)):
            shader.CreateOutput(output, type_name)
        return shader

    def _st(self) -> UsdShade.Shader:
        """The one primvar reader for `st`, shared by every texture of this material."""
        if self._st_reader is None:
            reader = UsdShade.Shader.Define(self.stage, f"{self.path}/stReader")
            reader.CreateIdAttr("UsdPrimvarReader_float2")
            reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("st")
            reader.CreateOutput("result", Sdf.ValueTypeNames.Float2)
            self._st_reader = reader
        return self._st_reader


def _number(data: dict, key: str, default: float) -> float:
    """An extension's number as the file gives it, or glTF's default when it is not one (the
    JSON comes from the upload)."""
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return default
    return float(value)


# --- geometry --------------------------------------------------------------------------------


def _define_instances(
    stage: Usd.Stage, scene: Scene, materials: dict[int, UsdShade.Material], report: Report
) -> None:
    """One Xform per placement (for its name), holding its primitives baked into world space:
    one UsdGeomMesh per batch of primitives that can share one (see `_batches`), its materials
    bound through GeomSubsets when it has several."""
    names = _Names(MATERIALS)
    for instance in scene.instances:
        mesh = scene.meshes[instance.mesh]
        parts = [prim for prim in mesh.primitives if prim.triangle_count]
        if not parts:
            continue
        group = UsdGeom.Xform.Define(stage, f"{ROOT}/{names(instance.name or mesh.name)}")
        mesh_names = _Names()
        for batch in _batches(parts, scene.materials):
            usd_mesh = UsdGeom.Mesh.Define(stage, group.GetPath().AppendChild(mesh_names(mesh.name)))
            _write_geometry(usd_mesh, batch, instance.matrix, scene.materials[batch[0].material].double_sided)
            _bind(usd_mesh, batch, materials)
        for prim in parts:
            material = scene.materials[prim.material]
            if prim.uvs is None and material.texture_slots():
                report.warn(
                    f"mesh {mesh.name!r} has no UVs but material {material.name!r} has textures: "
                    "in the USDZ its textures are sampled at a single point"
                )


def _batches(parts: list[Primitive], materials: list[Material]) -> list[list[Primitive]]:
    """Primitives that can be one UsdGeomMesh: USD puts `doubleSided` on the mesh, not the
    material, and a primvar covers all of a mesh's points, so those must agree."""
    batches: dict[tuple, list[Primitive]] = {}
    for prim in parts:
        key = (materials[prim.material].double_sided, prim.normals is None, prim.uvs is None)
        batches.setdefault(key, []).append(prim)
    return list(batches.values())


def _bind(mesh: UsdGeom.Mesh, batch: list[Primitive], materials: dict[int, UsdShade.Material]) -> None:
    binding = UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim())
    used = list(dict.fromkeys(prim.material for prim in batch))
    if len(used) == 1:
        binding.Bind(materials[used[0]])
        return
    faces: dict[int, list[np.ndarray]] = {index: [] for index in used}
    first = 0
    for prim in batch:
        faces[prim.material].append(np.arange(first, first + prim.triangle_count, dtype=np.int32))
        first += prim.triangle_count
    for index in used:
        material = materials[index]
        subset = binding.CreateMaterialBindSubset(
            material.GetPath().name, Vt.IntArray.FromNumpy(np.concatenate(faces[index])), UsdGeom.Tokens.face
        )
        UsdShade.MaterialBindingAPI.Apply(subset.GetPrim()).Bind(material)
    binding.SetMaterialBindSubsetsFamilyType(UsdGeom.Tokens.partition)


def _write_geometry(mesh: UsdGeom.Mesh, batch: list[Primitive], matrix: np.ndarray, double_sided: bool) -> None:
    offsets = np.cumsum([0] + [prim.vertex_count for prim in batch[:-1]])
    positions = transform_points(np.concatenate([prim.positions for prim in batch]), matrix).astype(np.float32)
    faces = np.concatenate([prim.faces.astype(np.int64) + offset for prim, offset in zip(batch, offsets)])
    if np.linalg.det(matrix[:3, :3]) < 0:
        # glTF: a mirroring transform makes clockwise faces the front; world space wants CCW.
        faces = faces[:, ::-1]
    # Triangles as authored: no subdivision surface (USD's default is Catmull-Clark).
    mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(positions))
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), 3, dtype=np.int32)))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(np.ascontiguousarray(faces, dtype=np.int32).reshape(-1)))
    mesh.CreateExtentAttr(Vt.Vec3fArray.FromNumpy(np.stack([positions.min(axis=0), positions.max(axis=0)])))
    mesh.CreateDoubleSidedAttr(bool(double_sided))
    if batch[0].normals is not None:
        normals = np.concatenate([prim.normals for prim in batch])
        mesh.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(_world_normals(normals, matrix)))
        mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    if batch[0].uvs is not None:
        # glTF puts v = 0 at the top of the image, USD at the bottom.
        st = np.concatenate([prim.uvs for prim in batch]).astype(np.float32)
        st[:, 1] = 1.0 - st[:, 1]
        primvar = UsdGeom.PrimvarsAPI(mesh).CreatePrimvar(
            "st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex
        )
        primvar.Set(Vt.Vec2fArray.FromNumpy(st))


def _world_normals(normals: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    world = normals.astype(np.float64) @ normal_matrix(matrix).T
    lengths = np.linalg.norm(world, axis=1, keepdims=True)
    return np.divide(world, lengths, out=np.zeros_like(world), where=lengths > 0).astype(np.float32)


# --- package ---------------------------------------------------------------------------------


def _package(path: Path, scratch: Path, members: list[str]) -> None:
    """Zip `members` (root layer first) into `path`: stored, 64-byte aligned (USD's writer)."""
    writer = Sdf.ZipFileWriter.CreateNew(str(path))
    for member in members:
        if not writer.AddFile(str(scratch / member), member):
            writer.Discard()
            raise RuntimeError(f"could not add {member} to the USDZ package")
    writer.Save()
