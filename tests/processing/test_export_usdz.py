"""export_usdz: what Quick Look reads back from the package matches the scene we wrote."""
from __future__ import annotations

import dataclasses
import tempfile
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pxr import Gf, Usd, UsdGeom, UsdShade

from processing import export_usdz
from processing.usdz_writer import write_usdz
from processing.report import Report
from processing.scene import Instance, Material, Mesh, Primitive, Scene, transform_points
from processing.settings import Settings
from processing.usdz_checks import check_usdz, usdz_stats


def write(scene: Scene, tmp_path: Path) -> tuple[Path, Report]:
    path = tmp_path / "model.usdz"
    report = Report()
    write_usdz(scene, path, report)
    return path, report


def surface(stage: Usd.Stage, material: str) -> UsdShade.Shader:
    shader = UsdShade.Shader(stage.GetPrimAtPath(f"/Root/Materials/{material}/PreviewSurface"))
    assert shader and shader.GetShaderId() == "UsdPreviewSurface"
    return shader


def upstream(shader: UsdShade.Shader, name: str) -> tuple[UsdShade.Shader, str]:
    """The shader and output feeding `shader.inputs:<name>`."""
    sources, invalid = shader.GetInput(name).GetConnectedSources()
    assert len(sources) == 1 and not invalid, f"inputs:{name} is not connected to exactly one source"
    return UsdShade.Shader(sources[0].source.GetPrim()), str(sources[0].sourceName)


def value(shader: UsdShade.Shader, name: str):
    attr = shader.GetInput(name)
    return attr.Get() if attr else None


def meshes(stage: Usd.Stage) -> list[UsdGeom.Mesh]:
    return [UsdGeom.Mesh(p) for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]


def test_every_scene_writes_a_valid_package(each_scene, tmp_path):
    path, _ = write(each_scene, tmp_path)
    assert check_usdz(path) == []


def test_stats_match_the_scene(each_scene, tmp_path):
    path, _ = write(each_scene, tmp_path)
    stats = usdz_stats(path)
    low, high = each_scene.bounds()
    np.testing.assert_allclose(stats["bounds"], [low, high], atol=1e-4)
    np.testing.assert_allclose(stats["size"], each_scene.size(), atol=1e-4)
    assert stats["triangles"] == each_scene.triangle_count
    assert stats["materials"] == len({p.material for _, p in each_scene.world_primitives()})


def test_stage_is_in_metres_y_up_with_a_component_default_prim(textured_box_scene, tmp_path):
    path, _ = write(textured_box_scene, tmp_path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert names[0] == "model.usdc"
    assert names[1:] == ["textures/oak_wood_0.png"]
    stage = Usd.Stage.Open(str(path))
    assert UsdGeom.StageHasAuthoredMetersPerUnit(stage)
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert UsdGeom.GetStageUpAxis(stage) == "Y"
    root = stage.GetDefaultPrim()
    assert root.GetPath() == "/Root" and root.IsA(UsdGeom.Xform)
    assert Usd.ModelAPI(root).GetKind() == "component"


def test_geometry_is_written_as_is(textured_box_scene, tmp_path):
    path, _ = write(textured_box_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    (mesh,) = meshes(stage)
    prim = textured_box_scene.meshes[0].primitives[0]
    np.testing.assert_array_equal(np.asarray(mesh.GetPointsAttr().Get()), prim.positions)
    np.testing.assert_array_equal(np.asarray(mesh.GetFaceVertexIndicesAttr().Get()), prim.faces.reshape(-1))
    assert set(mesh.GetFaceVertexCountsAttr().Get()) == {3}
    np.testing.assert_array_equal(np.asarray(mesh.GetNormalsAttr().Get()), prim.normals)
    assert mesh.GetNormalsInterpolation() == "vertex"
    assert mesh.GetSubdivisionSchemeAttr().Get() == "none"
    assert mesh.GetDoubleSidedAttr().Get() is False
    np.testing.assert_allclose(
        np.asarray(mesh.GetExtentAttr().Get()), [prim.positions.min(axis=0), prim.positions.max(axis=0)]
    )


def test_st_primvar_flips_v(textured_box_scene, tmp_path):
    path, _ = write(textured_box_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    (mesh,) = meshes(stage)
    st = UsdGeom.PrimvarsAPI(mesh).GetPrimvar("st")
    assert st.GetTypeName() == "texCoord2f[]"
    assert st.GetInterpolation() == "vertex"
    uvs = textured_box_scene.meshes[0].primitives[0].uvs
    np.testing.assert_allclose(np.asarray(st.Get()), np.column_stack([uvs[:, 0], 1 - uvs[:, 1]]))


def test_base_color_texture_is_tinted_by_its_factor(textured_box_scene, tmp_path):
    path, _ = write(textured_box_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    texture, output = upstream(surface(stage, "oak"), "diffuseColor")
    assert output == "rgb"
    assert texture.GetShaderId() == "UsdUVTexture"
    assert value(texture, "sourceColorSpace") == "sRGB"
    assert value(texture, "wrapS") == value(texture, "wrapT") == "repeat"
    assert value(texture, "scale") == Gf.Vec4f(0.9, 0.8, 0.7, 1.0)
    asset = value(texture, "file")
    assert asset.path == "textures/oak_wood_0.png"
    with zipfile.ZipFile(path) as archive:
        assert archive.read(asset.path) == textured_box_scene.textures[0].encoded
    reader, output = upstream(texture, "st")
    assert (reader.GetShaderId(), output) == ("UsdPrimvarReader_float2", "result")
    assert value(reader, "varname") == "st"
    assert not surface(stage, "oak").GetInput("opacity")  # OPAQUE


def test_factors_only_material(factors_scene, tmp_path):
    path, _ = write(factors_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    shader = surface(stage, "lacquer")
    assert value(shader, "diffuseColor") == Gf.Vec3f(0.2, 0.4, 0.6)
    assert value(shader, "metallic") == pytest.approx(0.25)
    assert value(shader, "roughness") == pytest.approx(0.6)
    assert value(shader, "emissiveColor") == Gf.Vec3f(0.1, 0.0, 0.05)
    assert not any(UsdShade.Shader(p).GetShaderId() == "UsdUVTexture" for p in stage.Traverse())
    assert meshes(stage)[0].GetDoubleSidedAttr().Get() is True
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["model.usdc"]


def test_mask_and_blend_read_opacity_from_the_alpha_channel(alpha_scene, tmp_path):
    path, report = write(alpha_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))

    mask = surface(stage, "cane")
    texture, output = upstream(mask, "opacity")
    assert output == "a" and texture.GetPath().name == "baseColorTexture"
    assert value(mask, "opacityThreshold") == pytest.approx(0.35)

    blend = surface(stage, "glass")
    texture, output = upstream(blend, "opacity")
    assert output == "a"
    assert value(texture, "scale")[3] == pytest.approx(0.6)
    assert not blend.GetInput("opacityThreshold")

    # A JPEG has no alpha (the textures step only drops an all-opaque one): the factor is all.
    tinted = surface(stage, "tinted")
    assert not tinted.GetInput("opacity").HasConnectedSource()
    assert value(tinted, "opacity") == pytest.approx(0.4)
    assert report.warnings == []


def test_opaque_material_ignores_texture_alpha(alpha_scene, tmp_path):
    alpha_scene.materials[0].alpha_mode = "OPAQUE"  # over the RGBA PNG
    path, _ = write(alpha_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    shader = surface(stage, "cane")
    assert not shader.GetInput("opacity")
    assert not shader.GetInput("opacityThreshold")


def test_packed_and_normal_maps(pbr_scene, tmp_path):
    path, _ = write(pbr_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    shader = surface(stage, "leather")

    metal_tex, metal_out = upstream(shader, "metallic")
    rough_tex, rough_out = upstream(shader, "roughness")
    assert (metal_out, rough_out) == ("b", "g")
    assert metal_tex.GetPath() == rough_tex.GetPath()
    assert value(metal_tex, "sourceColorSpace") == "raw"
    assert value(metal_tex, "file").path == "textures/leather_orm_1.png"
    np.testing.assert_allclose(value(metal_tex, "scale"), (1.0, 0.8, 0.5, 1.0))

    occlusion, output = upstream(shader, "occlusion")
    assert output == "r" and value(occlusion, "file").path == "textures/leather_orm_1.png"
    np.testing.assert_allclose(value(occlusion, "scale"), (0.6, 0.6, 0.6, 1.0))
    np.testing.assert_allclose(value(occlusion, "bias"), (0.4, 0.4, 0.4, 0.0), atol=1e-6)

    normal, output = upstream(shader, "normal")
    assert output == "rgb" and value(normal, "sourceColorSpace") == "raw"
    np.testing.assert_allclose(value(normal, "scale"), (1.5, 1.5, 2.0, 1.0))
    np.testing.assert_allclose(value(normal, "bias"), (-0.75, -0.75, -1.0, 0.0))

    emissive, output = upstream(shader, "emissiveColor")
    assert output == "rgb" and value(emissive, "sourceColorSpace") == "sRGB"
    np.testing.assert_allclose(value(emissive, "scale"), (0.5, 0.25, 1.0, 1.0))

    base, _ = upstream(shader, "diffuseColor")
    assert value(base, "file").path == "textures/leather_basecolor_0.jpg"
    assert not base.GetInput("scale")  # a white factor is not written


def test_each_placement_is_baked_into_world_space(instanced_scene, tmp_path):
    path, _ = write(instanced_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    found = meshes(stage)
    assert [m.GetPath().GetParentPath().name for m in found] == ["leg", "leg_1", "leg_2"]
    prim = instanced_scene.meshes[0].primitives[0]
    for mesh, instance in zip(found, instanced_scene.instances):
        assert np.array(mesh.ComputeLocalToWorldTransform(Usd.TimeCode.Default())).tolist() == np.eye(4).tolist()
        np.testing.assert_allclose(
            np.asarray(mesh.GetPointsAttr().Get()), transform_points(prim.positions, instance.matrix), atol=1e-6
        )
    mirrored = np.asarray(found[2].GetFaceVertexIndicesAttr().Get()).reshape(-1, 3)
    np.testing.assert_array_equal(mirrored, prim.faces[:, ::-1])


def test_front_faces_agree_with_their_normals(each_scene, tmp_path):
    """Counter-clockwise triangles face the way their vertex normals point, mirrors included."""
    path, _ = write(each_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    for mesh in meshes(stage):
        points = np.asarray(mesh.GetPointsAttr().Get(), dtype=np.float64)
        faces = np.asarray(mesh.GetFaceVertexIndicesAttr().Get()).reshape(-1, 3)
        normals = np.asarray(mesh.GetNormalsAttr().Get())
        a, b, c = (points[faces[:, i]] for i in range(3))
        facing = np.einsum("ij,ij->i", np.cross(b - a, c - a), normals[faces].sum(axis=1))
        assert (facing > 0).all(), f"{mesh.GetPath()} has back-facing triangles"
        np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)


def test_two_primitives_become_one_mesh_with_a_subset_per_material(two_material_scene, tmp_path):
    path, _ = write(two_material_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    (mesh,) = meshes(stage)
    binding = UsdShade.MaterialBindingAPI(mesh.GetPrim())
    assert binding.GetMaterialBindSubsetsFamilyType() == UsdGeom.Tokens.partition
    subsets = binding.GetMaterialBindSubsets()
    bound = {
        UsdShade.MaterialBindingAPI(s.GetPrim()).ComputeBoundMaterial()[0].GetPath().name: list(s.GetIndicesAttr().Get())
        for s in subsets
    }
    assert bound == {"fabric": list(range(12)), "walnut": list(range(12, 24))}
    assert all(s.GetPrim().HasAPI(UsdShade.MaterialBindingAPI) for s in subsets)
    assert all(s.GetElementTypeAttr().Get() == UsdGeom.Tokens.face for s in subsets)
    seat, frame = two_material_scene.meshes[0].primitives
    np.testing.assert_array_equal(
        np.asarray(mesh.GetFaceVertexIndicesAttr().Get()).reshape(-1, 3),
        np.concatenate([seat.faces, frame.faces + seat.vertex_count]),
    )
    assert len(mesh.GetPointsAttr().Get()) == seat.vertex_count + frame.vertex_count


def test_primitives_that_cannot_share_a_mesh_are_split(two_material_scene, tmp_path):
    """USD keeps doubleSided on the mesh and a primvar spans all its points."""
    two_material_scene.materials[1].double_sided = True
    two_material_scene.meshes[0].primitives.append(
        dataclasses.replace(two_material_scene.meshes[0].primitives[0], uvs=None)
    )
    path, _ = write(two_material_scene, tmp_path)
    assert check_usdz(path) == []
    stage = Usd.Stage.Open(str(path))
    found = meshes(stage)
    assert [m.GetDoubleSidedAttr().Get() for m in found] == [False, True, False]
    bound = [UsdShade.MaterialBindingAPI(m.GetPrim()).ComputeBoundMaterial()[0].GetPath().name for m in found]
    assert bound == ["fabric", "walnut", "fabric"]
    assert not UsdGeom.PrimvarsAPI(found[2]).HasPrimvar("st")


def test_unused_materials_and_textures_are_left_out(textured_box_scene, tmp_path):
    textured_box_scene.materials.append(Material("spare", base_color_texture=1))
    textured_box_scene.textures.append(dataclasses.replace(textured_box_scene.textures[0], name="spare.png"))
    path, _ = write(textured_box_scene, tmp_path)
    assert usdz_stats(path)["materials"] == 1
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["model.usdc", "textures/oak_wood_0.png"]


def test_textures_without_uvs_are_reported(textured_box_scene, tmp_path):
    textured_box_scene.meshes[0].primitives[0].uvs = None
    path, report = write(textured_box_scene, tmp_path)
    assert check_usdz(path) == []
    assert any("no UVs" in w for w in report.warnings)


def test_unencoded_texture_is_a_programming_error(textured_box_scene, tmp_path):
    textured_box_scene.textures[0].encoded = None
    with pytest.raises(ValueError, match="textures step"):
        write(textured_box_scene, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no scratch folder, no partial package


def test_usd_cores_warm_up_writes_a_valid_usdz_in_the_system_temp_folder_only_and_removes_it(tmp_path, monkeypatch):
    """usd-core's one-time setup is paid on a one-triangle USDZ while its process waits for the
    scene: never in the job's directory (the current one), and nothing is left behind."""
    system_temp, job = tmp_path / "tmp", tmp_path / "job"
    system_temp.mkdir()
    job.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    monkeypatch.chdir(job)
    packaged = []
    package = export_usdz.UsdCore.package

    def recorded(self, scene, path):
        packaged.append((path, package(self, scene, path)))
        return packaged[-1][1]

    monkeypatch.setattr(export_usdz.UsdCore, "package", recorded)
    export_usdz.UsdCore()
    [(path, result)] = packaged
    assert system_temp in path.parents and result["problems"] == []
    assert list(system_temp.iterdir()) == [] and list(job.iterdir()) == []


def test_run_writes_model_usdz_into_the_workdir(textured_box_scene, tmp_path):
    conv = SimpleNamespace(scene=textured_box_scene, workdir=tmp_path, report=Report(), outputs={}, usd_core=None)
    export_usdz.run(conv, Settings())
    export_usdz.collect(conv)
    assert conv.outputs["usdz"] == tmp_path / "model.usdz"
    assert [p.name for p in tmp_path.iterdir()] == ["model.usdz"]  # scratch files removed
    assert check_usdz(conv.outputs["usdz"]) == []


def test_run_reports_the_writers_warnings_and_the_checks_for_validate(textured_box_scene, tmp_path):
    textured_box_scene.meshes[0].primitives[0].uvs = None  # a texture with nothing to map it
    conv = SimpleNamespace(scene=textured_box_scene, workdir=tmp_path, report=Report(), outputs={}, usd_core=None)
    export_usdz.start(conv)
    export_usdz.run(conv, Settings())
    assert conv.outputs == {}  # the child writes while this process goes on
    export_usdz.collect(conv)
    assert any("no UVs" in w for w in conv.report.warnings)
    assert conv.usdz_checked == {"problems": [], "size": pytest.approx(list(usdz_stats(conv.outputs["usdz"])["size"]))}


def test_run_raises_the_writers_error_here(textured_box_scene, tmp_path):
    textured_box_scene.textures[0].encoded = None
    conv = SimpleNamespace(scene=textured_box_scene, workdir=tmp_path, report=Report(), outputs={}, usd_core=None)
    export_usdz.start(conv)
    export_usdz.run(conv, Settings())
    with pytest.raises(ValueError, match="textures step"):
        export_usdz.collect(conv)
    assert "usdz" not in conv.outputs


def test_a_100k_triangle_mesh_is_fast(textured_box_scene, tmp_path):
    side = 224  # 2 * 223² ≈ 99.5k triangles
    u, v = np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side))
    positions = np.column_stack([u.ravel(), np.sin(u.ravel() * 6) * 0.1, v.ravel()]).astype(np.float32)
    grid = np.arange(side * side).reshape(side, side)
    a, b, c, d = grid[:-1, :-1].ravel(), grid[:-1, 1:].ravel(), grid[1:, 1:].ravel(), grid[1:, :-1].ravel()
    faces = np.concatenate([np.column_stack([a, d, c]), np.column_stack([a, c, b])]).astype(np.uint32)
    normals = np.tile(np.array([0, 1, 0], dtype=np.float32), (len(positions), 1))
    uvs = np.column_stack([u.ravel(), v.ravel()]).astype(np.float32)
    scene = Scene(
        meshes=[Mesh("rug", [Primitive(positions, faces, 0, normals, uvs)])],
        instances=[Instance("rug", 0, np.eye(4))],
        materials=[Material("wool", base_color_texture=0)],
        textures=textured_box_scene.textures,
    )
    started = time.perf_counter()
    path, _ = write(scene, tmp_path)
    elapsed = time.perf_counter() - started
    assert usdz_stats(path)["triangles"] == scene.triangle_count == 2 * 223 * 223
    assert elapsed < 5.0, f"writing 100k triangles took {elapsed:.1f} s"


def test_names_become_valid_unique_prim_and_file_names(two_material_scene, tmp_path):
    two_material_scene.instances[0].name = "Materials"  # the scope's own name
    two_material_scene.materials[0].name = "Wood/Walnut ✓"
    two_material_scene.materials[1].name = "Wood/Walnut ✓"
    two_material_scene.textures[0].name = "../maps/walnut base.jpg"
    path, _ = write(two_material_scene, tmp_path)
    assert check_usdz(path) == []
    stage = Usd.Stage.Open(str(path))
    material_names = [p.GetName() for p in stage.GetPrimAtPath("/Root/Materials").GetChildren()]
    assert len(set(material_names)) == 2
    assert {m.GetPath().GetParentPath().name for m in meshes(stage)} == {"Materials_1"}
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist()[1] == "textures/walnut_base_0.jpg"


def test_identical_images_are_stored_once(two_material_scene, tmp_path):
    copy = dataclasses.replace(two_material_scene.textures[0], name="walnut copy.jpg")
    two_material_scene.textures.append(copy)
    two_material_scene.materials[0].base_color_texture = 1
    path, _ = write(two_material_scene, tmp_path)
    assert check_usdz(path) == []
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["model.usdc", "textures/walnut_0.jpg"]
    stage = Usd.Stage.Open(str(path))
    files = {value(upstream(surface(stage, name), "diffuseColor")[0], "file").path for name in ("fabric", "walnut")}
    assert files == {"textures/walnut_0.jpg"}


def test_wrap_modes_are_kept_per_slot(wrapped_scene, tmp_path):
    path, _ = write(wrapped_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    shader = surface(stage, "tiles")
    base, _ = upstream(shader, "diffuseColor")
    assert (value(base, "wrapS"), value(base, "wrapT")) == ("clamp", "mirror")
    normal, _ = upstream(shader, "normal")
    assert (value(normal, "wrapS"), value(normal, "wrapT")) == ("repeat", "repeat")
    # scale 1: exactly what USD's normal-map validator asks of an 8-bit normal map
    assert value(normal, "scale") == Gf.Vec4f(2, 2, 2, 1)
    assert value(normal, "bias") == Gf.Vec4f(-1, -1, -1, 0)


def test_material_extensions_are_carried_or_reported(extensions_scene, tmp_path):
    path, report = write(extensions_scene, tmp_path)
    stage = Usd.Stage.Open(str(path))
    shader = surface(stage, "fabric")
    assert value(shader, "ior") == pytest.approx(1.33)
    assert value(shader, "clearcoat") == pytest.approx(0.7)
    assert value(shader, "clearcoatRoughness") == pytest.approx(0.2)
    np.testing.assert_allclose(value(shader, "emissiveColor"), (0.8, 0.4, 0.0), rtol=1e-6)  # strength 4
    assert report.warnings == [
        "USDZ: sheen dropped from material 'fabric'",
        "USDZ: transmission dropped from material 'fabric'",
        "USDZ: clearcoat clearcoatTexture dropped from material 'fabric' (its factor is kept)",
    ]


def test_malformed_extension_numbers_fall_back_to_gltf_defaults(extensions_scene, tmp_path):
    extensions_scene.materials[0].extensions = {
        "KHR_materials_ior": {"ior": "glass"},
        "KHR_materials_emissive_strength": {"emissiveStrength": float("nan")},
    }
    path, _ = write(extensions_scene, tmp_path)
    assert check_usdz(path) == []
    stage = Usd.Stage.Open(str(path))
    shader = surface(stage, "fabric")
    assert value(shader, "ior") == pytest.approx(1.5)
    np.testing.assert_allclose(value(shader, "emissiveColor"), (0.2, 0.1, 0.0), rtol=1e-6)
