"""usdz_checks: a package we wrote passes; each way of breaking one is caught and named."""
from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from pxr import Sdf, Sdr, Usd, UsdGeom, UsdShade, UsdValidation

from processing.usdz_writer import write_usdz
from processing.report import Report
from processing.usdz_checks import ALLOWED_SHADERS, VALIDATION_KEYWORDS, check_usdz

TEXTURE = "textures/oak_wood_0.png"


@pytest.fixture
def package(textured_box_scene, tmp_path) -> Path:
    path = tmp_path / "model.usdz"
    write_usdz(textured_box_scene, path, Report())
    return path


def unpack(path: Path, folder: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
        return archive.namelist()


def pack(folder: Path, names: list[str], target: Path) -> Path:
    """A correctly laid out package (USD's writer: stored, aligned) of `names`, in order."""
    writer = Sdf.ZipFileWriter.CreateNew(str(target))
    for name in names:
        assert writer.AddFile(str(folder / name), name)
    writer.Save()
    return target


def edited(path: Path, tmp_path: Path, edit) -> Path:
    """`path` with its stage changed by `edit(stage)`, repackaged correctly."""
    folder = tmp_path / "unpacked"
    names = unpack(path, folder)
    stage = Usd.Stage.Open(str(folder / "model.usdc"))
    edit(stage)
    stage.GetRootLayer().Save()
    return pack(folder, names, tmp_path / "edited.usdz")


def rezipped(path: Path, target: Path, compression: int) -> Path:
    """The same entries written by Python's zipfile, which neither aligns nor always stores."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w", compression) as out:
        for info in source.infolist():
            out.writestr(info.filename, source.read(info))
    return target


def texture_shader(stage: Usd.Stage) -> UsdShade.Shader:
    return UsdShade.Shader(stage.GetPrimAtPath("/Root/Materials/oak/baseColorTexture"))


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def has(errors: list[str], *fragments: str) -> bool:
    return any(all(f in e for f in fragments) for e in errors)


def test_a_package_we_wrote_is_valid(package):
    assert check_usdz(package) == []


# --- zip rules --------------------------------------------------------------------------------


def test_compressed_entries_are_rejected(package, tmp_path):
    errors = check_usdz(rezipped(package, tmp_path / "deflated.usdz", zipfile.ZIP_DEFLATED))
    assert has(errors, "'model.usdc'", "compressed", "must be stored")
    assert has(errors, f"'{TEXTURE}'", "compressed")


def test_unaligned_entries_are_rejected(package, tmp_path):
    errors = check_usdz(rezipped(package, tmp_path / "unaligned.usdz", zipfile.ZIP_STORED))
    # zipfile puts model.usdc's data right after its 30 + 10 byte local header.
    assert has(errors, "'model.usdc'", "starts at byte 40", "not 64-byte aligned")
    assert has(errors, "USD validation (usdUtilsValidators:UsdzPackageValidator)", "invalid offset 40")
    assert not has(errors, "compressed")
    assert not has(errors, str(tmp_path))  # messages reach reports: no server paths


def test_duplicate_entries_are_rejected(package, tmp_path):
    target = tmp_path / "twice.usdz"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(target, "w") as out:
        with pytest.warns(UserWarning, match="Duplicate name"):
            for name in [*source.namelist(), TEXTURE]:
                out.writestr(name, source.read(name))
    assert has(check_usdz(target), repr(TEXTURE), "appears more than once")


def test_encrypted_entries_are_rejected(package, tmp_path):
    data = bytearray(package.read_bytes())
    with zipfile.ZipFile(package) as archive:
        first = archive.infolist()[0]
    central = data.index(b"PK\x01\x02")
    for flags_at in (first.header_offset + 6, central + 8):  # local and central "general purpose" flags
        (flags,) = struct.unpack_from("<H", data, flags_at)
        struct.pack_into("<H", data, flags_at, flags | 0x1)
    broken = tmp_path / "encrypted.usdz"
    broken.write_bytes(bytes(data))
    assert has(check_usdz(broken), "'model.usdc'", "encrypted")


def test_a_usda_root_layer_is_rejected(package, tmp_path):
    folder = tmp_path / "unpacked"
    names = unpack(package, folder)
    Sdf.Layer.FindOrOpen(str(folder / "model.usdc")).Export(str(folder / "model.usda"))
    errors = check_usdz(pack(folder, ["model.usda", *names[1:]], tmp_path / "text.usdz"))
    assert has(errors, "first entry 'model.usda'", "binary .usdc root layer")


def test_a_text_layer_named_usdc_is_rejected(package, tmp_path):
    folder = tmp_path / "unpacked"
    names = unpack(package, folder)
    text = Sdf.Layer.FindOrOpen(str(folder / "model.usdc")).ExportToString()
    (folder / "model.usdc").write_text(text)
    errors = check_usdz(pack(folder, names, tmp_path / "liar.usdz"))
    assert has(errors, "'model.usdc'", "is not a binary usdc layer")


def test_entries_other_than_layers_and_images_are_rejected(package, tmp_path):
    folder = tmp_path / "unpacked"
    names = unpack(package, folder)
    (folder / "notes.txt").write_text("hello")
    errors = check_usdz(pack(folder, [*names, "notes.txt"], tmp_path / "extra.usdz"))
    assert has(errors, "'notes.txt'", "not a .usdc/.usda layer or a .png/.jpg/.jpeg image")


def test_a_file_that_is_not_a_zip_is_rejected(tmp_path):
    path = tmp_path / "model.usdz"
    path.write_bytes(b"PXR-USDC" + bytes(100))
    assert has(check_usdz(path), "not a readable zip archive")


# --- references must stay inside the package ------------------------------------------------


@pytest.mark.parametrize(
    "asset", ["../secret.png", "/etc/secret.png", "file:///etc/secret.png", "https://example.com/a.png"]
)
def test_texture_paths_outside_the_package_are_rejected(package, tmp_path, asset):
    broken = edited(package, tmp_path, lambda stage: texture_shader(stage).GetInput("file").Set(asset))
    assert has(check_usdz(broken), "baseColorTexture.inputs:file", repr(asset), "outside the package")


def test_a_texture_missing_from_the_package_is_rejected(package, tmp_path):
    missing = "textures/missing.png"
    broken = edited(package, tmp_path, lambda stage: texture_shader(stage).GetInput("file").Set(missing))
    assert has(check_usdz(broken), repr(missing), "not in the package")


def test_a_reference_outside_the_package_is_rejected_without_opening_it(package, tmp_path):
    outside = tmp_path / "outside.usda"
    layer = Sdf.Layer.CreateNew(str(outside))
    Sdf.CreatePrimInLayer(layer, "/Canary")
    layer.Save()
    del layer
    assert Sdf.Layer.Find(str(outside)) is None

    def add_reference(stage):
        stage.GetPrimAtPath("/Root").GetReferences().AddReference(str(outside), "/Canary")

    broken = edited(package, tmp_path, add_reference)
    assert Sdf.Layer.Find(str(outside)) is None
    errors = check_usdz(broken)
    assert has(errors, "'model.usdc'", repr(str(outside)), "outside the package")
    assert Sdf.Layer.Find(str(outside)) is None  # the check never composed it


# --- ARKit profile ----------------------------------------------------------------------------


def test_missing_stage_metadata_is_rejected(package, tmp_path):
    def strip(stage):
        root = stage.GetRootLayer()
        for key in ("metersPerUnit", "upAxis"):
            root.pseudoRoot.ClearInfo(key)
        root.ClearDefaultPrim()

    errors = check_usdz(edited(package, tmp_path, strip))
    assert has(errors, "metersPerUnit is not set")
    assert has(errors, "upAxis is not set")
    assert has(errors, "defaultPrim is not set")


def test_wrong_units_and_axis_are_rejected(package, tmp_path):
    def centimetres_z_up(stage):
        UsdGeom.SetStageMetersPerUnit(stage, 0.01)
        UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)

    errors = check_usdz(edited(package, tmp_path, centimetres_z_up))
    assert has(errors, "metersPerUnit is 0.01, not 1")
    assert has(errors, "upAxis is 'Z', not 'Y'")


def test_shaders_quick_look_cannot_render_are_rejected(package, tmp_path):
    def add_shader(stage):
        shader = UsdShade.Shader.Define(stage, "/Root/Materials/oak/Standard")
        shader.CreateIdAttr("ND_standard_surface_surfaceshader")

    errors = check_usdz(edited(package, tmp_path, add_shader))
    assert has(errors, "/Root/Materials/oak/Standard", "ND_standard_surface_surfaceshader", "Quick Look renders only")


def test_usd_validator_errors_are_reported(package, tmp_path):
    def drop_binding_api(stage):
        for prim in stage.Traverse():
            prim.RemoveAPI(UsdShade.MaterialBindingAPI)

    errors = check_usdz(edited(package, tmp_path, drop_binding_api))
    assert has(errors, "USD validation (usdShadeValidators:MaterialBindingApiAppliedValidator)")


def test_oversized_textures_are_rejected(package, tmp_path):
    folder = tmp_path / "unpacked"
    names = unpack(package, folder)
    (folder / TEXTURE).write_bytes(png(2049, 8))
    errors = check_usdz(pack(folder, names, tmp_path / "big.usdz"))
    assert has(errors, repr(TEXTURE), "2049x8", "at most 2048 px")


def test_images_must_be_what_their_names_say(package, tmp_path):
    renamed = "textures/oak_wood_0.jpg"
    folder = tmp_path / "unpacked"
    names = unpack(package, folder)
    (folder / TEXTURE).rename(folder / renamed)
    stage = Usd.Stage.Open(str(folder / "model.usdc"))
    texture_shader(stage).GetInput("file").Set(renamed)
    stage.GetRootLayer().Save()
    errors = check_usdz(pack(folder, [names[0], renamed], tmp_path / "renamed.usdz"))
    assert errors == [f"image {renamed!r} is PNG, not the JPEG its name says"]


def test_every_validator_keyword_usd_core_registers_is_run():
    """A usd-core upgrade that adds validators fails here until someone lists (or refuses) them."""
    registered = {
        keyword
        for metadata in UsdValidation.ValidationRegistry().GetAllValidatorMetadata()
        for keyword in metadata.GetKeywords()
    }
    assert registered <= set(VALIDATION_KEYWORDS)


def test_prim_types_arkit_does_not_render_are_rejected(package, tmp_path):
    def add_instancer_and_light(stage):
        UsdGeom.PointInstancer.Define(stage, "/Root/Legs")
        UsdGeom.BasisCurves.Define(stage, "/Root/Piping")

    errors = check_usdz(edited(package, tmp_path, add_instancer_and_light))
    assert has(errors, "prim /Root/Legs is a PointInstancer", "ARKit does not render")
    assert has(errors, "prim /Root/Piping is a BasisCurves")


def test_shaders_must_be_identified_by_id(package, tmp_path):
    def source_asset(stage):
        shader = UsdShade.Shader.Define(stage, "/Root/Materials/oak/Custom")
        shader.SetSourceAsset(Sdf.AssetPath("textures/oak_wood_0.png"), "glslfx")

    errors = check_usdz(edited(package, tmp_path, source_asset))
    assert has(errors, "/Root/Materials/oak/Custom", "not identified by info:id", "sourceAsset")


def test_shader_inputs_must_be_fed_by_one_shader(package, tmp_path):
    def rewire(stage):
        surface = UsdShade.Shader(stage.GetPrimAtPath("/Root/Materials/oak/PreviewSurface"))
        mesh = next(p for p in stage.Traverse() if p.IsA(UsdGeom.Mesh))
        surface.GetInput("diffuseColor").GetAttr().SetConnections(
            [mesh.GetPath().AppendProperty("outputs:rgb"), "/Root/Materials/oak/baseColorTexture.outputs:rgb"]
        )

    errors = check_usdz(edited(package, tmp_path, rewire))
    assert has(errors, "PreviewSurface.inputs:diffuseColor has 2 connections")
    assert has(errors, "PreviewSurface.inputs:diffuseColor is connected to", "not a shader")


def test_bindings_must_name_a_material(package, tmp_path):
    def bind_to_nothing(stage):
        mesh = next(p for p in stage.Traverse() if p.IsA(UsdGeom.Mesh))
        mesh.GetRelationship("material:binding").SetTargets(["/Root/Materials/gone"])

    errors = check_usdz(edited(package, tmp_path, bind_to_nothing))
    assert has(errors, "material binding", "material:binding", "does not name a valid material")


def test_a_second_layer_is_rejected_even_inside_the_package(package, tmp_path):
    folder = tmp_path / "unpacked"
    names = unpack(package, folder)
    extra = Sdf.Layer.CreateNew(str(folder / "extra.usdc"))
    Sdf.CreatePrimInLayer(extra, "/Root/Extra")
    extra.Save()
    root = Sdf.Layer.FindOrOpen(str(folder / "model.usdc"))
    root.subLayerPaths.append("extra.usdc")
    root.Save()
    errors = check_usdz(pack(folder, [*names, "extra.usdc"], tmp_path / "two.usdz"))
    assert has(errors, "composes 2 layers", "single usdc layer")


def test_allowed_shader_ids_are_ones_usd_knows():
    """ARKit's ids as USD's shader registry spells them (a wrong case would reject good files)."""
    known = set(Sdr.Registry().GetShaderNodeIdentifiers())
    assert set(ALLOWED_SHADERS) <= known
    assert "UsdTransform2d" in ALLOWED_SHADERS


def test_a_texture_transform_node_is_accepted(package, tmp_path):
    def add_transform(stage):
        transform = UsdShade.Shader.Define(stage, "/Root/Materials/oak/uvTransform")
        transform.CreateIdAttr("UsdTransform2d")
        reader = UsdShade.Shader(stage.GetPrimAtPath("/Root/Materials/oak/stReader"))
        transform.CreateInput("in", Sdf.ValueTypeNames.Float2).ConnectToSource(reader.ConnectableAPI(), "result")
        transform.CreateOutput("result", Sdf.ValueTypeNames.Float2)
        texture_shader(stage).GetInput("st").ConnectToSource(transform.ConnectableAPI(), "result")

    assert check_usdz(edited(package, tmp_path, add_transform)) == []


def test_internal_references_are_not_outside_the_package(package, tmp_path):
    def instance_the_mesh(stage):
        mesh = next(p for p in stage.Traverse() if p.IsA(UsdGeom.Mesh))
        copy = UsdGeom.Xform.Define(stage, "/Root/copy").GetPrim()
        copy.GetReferences().AddInternalReference(mesh.GetParent().GetPath())

    assert check_usdz(edited(package, tmp_path, instance_the_mesh)) == []
