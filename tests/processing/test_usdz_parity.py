"""The USDZ shows what the GLB shows: every corpus model and every in-code material fixture,
read back from both files by independent readers (the GLB through its JSON and trimesh, the USDZ
through usd-core), must agree on the world bounding box in metres (within 0.1% per axis), the
triangle count, the materials, every factor, the alpha mode, double-sidedness, wrap modes and
every texture (present, readable, byte for byte the GLB's image)."""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from pxr import Tf, Usd, UsdGeom, UsdShade

from processing.export_glb import write_glb
from processing.usdz_writer import write_usdz
from processing.ingest import MODEL_FORMATS
from processing.pipeline import convert
from processing.report import Report
from processing.settings import Settings
from processing.usdz_checks import check_usdz, usdz_stats

from .inputs import make_zip

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
BOX_TOLERANCE = 1e-3  # of each axis's size, plus a micrometre for flat axes
WRAP = {10497: "repeat", 33071: "clamp", 33648: "mirror"}


def corpus_models() -> list[Path]:
    """Every model of the corpus the pipeline reads (OBJ folders are uploaded zipped)."""
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            raise AssertionError(f"the shared corpus is missing at {CORPUS}")
        return []
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file())
    objs = [p for p in files if p.suffix.lower() == ".obj"]
    readable = [p for p in files if p.suffix.lower().lstrip(".") in (*MODEL_FORMATS, "zip") and p.suffix.lower() != ".obj"]
    return readable + objs


def upload_bytes(model: Path) -> bytes:
    if model.suffix.lower() == ".obj":
        return make_zip({p.name: p.read_bytes() for p in model.parent.iterdir()})
    return model.read_bytes()


@pytest.mark.parametrize("model", corpus_models(), ids=lambda p: p.parent.name if p.parent.name != "stress" else p.stem)
def test_corpus_model_usdz_matches_its_glb(tmp_path, model):
    source = tmp_path / "upload"
    source.write_bytes(upload_bytes(model))
    conv = convert(source, tmp_path / "out", Settings())
    assert_parity(conv.outputs["glb"], conv.outputs["usdz"])


@pytest.mark.parametrize(
    "name",
    [
        "textured_box_scene",
        "factors_scene",
        "alpha_scene",
        "pbr_scene",
        "instanced_scene",
        "two_material_scene",
        "extensions_scene",
        "wrapped_scene",
    ],
)
def test_fixture_usdz_matches_its_glb(tmp_path, request, name):
    scene = request.getfixturevalue(name)
    glb, usdz = tmp_path / "model.glb", tmp_path / "model.usdz"
    write_glb(scene, glb)
    write_usdz(scene, usdz, Report())
    assert check_usdz(usdz) == []
    assert_parity(glb, usdz)


# --- the comparison --------------------------------------------------------------------------


def assert_parity(glb: Path, usdz: Path) -> None:
    gltf, binary = read_glb(glb)
    low, high, triangles = glb_bounds_and_triangles(glb)
    stats = usdz_stats(usdz)
    size = high - low
    tolerance = BOX_TOLERANCE * size + 1e-6
    np.testing.assert_array_less(np.abs(np.asarray(stats["bounds"][0]) - low), tolerance)
    np.testing.assert_array_less(np.abs(np.asarray(stats["bounds"][1]) - high), tolerance)
    assert stats["triangles"] == triangles

    stage = Usd.Stage.Open(str(usdz))
    used = sorted({p["material"] for m in gltf["meshes"] for p in m["primitives"] if "material" in p})
    usd_materials = [UsdShade.Material(p) for p in stage.Traverse() if p.IsA(UsdShade.Material)]
    assert len(usd_materials) == len(used)
    with zipfile.ZipFile(usdz) as archive:
        for index, usd_material in zip(used, usd_materials):
            spec = gltf["materials"][index]
            assert usd_material.GetPath().name.startswith(Tf.MakeValidIdentifier(spec.get("name") or "material"))
            MaterialParity(gltf, binary, archive, spec, usd_material).check()
    assert_double_sided(stage, gltf, used, usd_materials)


class MaterialParity:
    """One glTF material against its UsdPreviewSurface network."""

    def __init__(self, gltf, binary, archive, spec, usd_material):
        self.gltf, self.binary, self.archive, self.spec = gltf, binary, archive, spec
        self.surface = usd_material.ComputeSurfaceSource()[0]
        self.where = usd_material.GetPath()
        assert self.surface and self.surface.GetShaderId() == "UsdPreviewSurface", self.where

    def check(self) -> None:
        pbr = self.spec.get("pbrMetallicRoughness", {})
        base = pbr.get("baseColorFactor", [1, 1, 1, 1])
        self.channel("diffuseColor", pbr.get("baseColorTexture"), "rgb", base[:3], slice(0, 3))
        self.alpha(pbr, base[3])
        self.channel("metallic", pbr.get("metallicRoughnessTexture"), "b", pbr.get("metallicFactor", 1.0), 2)
        self.channel("roughness", pbr.get("metallicRoughnessTexture"), "g", pbr.get("roughnessFactor", 1.0), 1)
        self.maps()
        self.emissive()
        self.extensions()

    def feed(self, name: str):
        """(value, texture shader, output) feeding `inputs:name`; all None when not authored."""
        given = self.surface.GetInput(name)
        if not given:
            return None, None, None
        if given.HasConnectedSource():
            source, output, _ = given.GetConnectedSource()
            return None, UsdShade.Shader(source.GetPrim()), str(output)
        return given.Get(), None, None

    def channel(self, name: str, info: dict | None, output: str, factor, component) -> None:
        value, texture, connected = self.feed(name)
        if info is None:
            assert texture is None, f"{self.where}: {name} has a texture the GLB does not"
            np.testing.assert_allclose(np.atleast_1d(value), np.atleast_1d(factor), rtol=1e-6, atol=1e-7)
            return
        assert connected == output, f"{self.where}: {name} reads {connected}, not {output}"
        np.testing.assert_allclose(texture_input(texture, "scale")[component], factor, rtol=1e-6, atol=1e-7)
        self.same_image(texture, info)

    def alpha(self, pbr: dict, alpha: float) -> None:
        mode = self.spec.get("alphaMode", "OPAQUE")
        value, texture, output = self.feed("opacity")
        threshold, _, _ = self.feed("opacityThreshold")
        if mode == "OPAQUE":
            assert value is None and texture is None and threshold is None, f"{self.where}: OPAQUE with opacity"
            return
        if texture is not None:
            assert output == "a"
            np.testing.assert_allclose(texture_input(texture, "scale")[3], alpha, rtol=1e-6)
        else:
            assert value == pytest.approx(alpha)
        if mode == "MASK":
            assert threshold == pytest.approx(self.spec.get("alphaCutoff", 0.5))
        else:
            assert threshold is None, f"{self.where}: BLEND with an opacityThreshold"

    def maps(self) -> None:
        normal = self.spec.get("normalTexture")
        _, texture, output = self.feed("normal")
        assert (texture is None) == (normal is None)
        if normal is not None:
            s = normal.get("scale", 1.0)
            assert output == "rgb" and texture.GetInput("sourceColorSpace").Get() == "raw"
            np.testing.assert_allclose(texture_input(texture, "scale"), (2 * s, 2 * s, 2, 1), rtol=1e-6)
            self.same_image(texture, normal)
        occlusion = self.spec.get("occlusionTexture")
        _, texture, output = self.feed("occlusion")
        assert (texture is None) == (occlusion is None)
        if occlusion is not None:
            assert output == "r"
            np.testing.assert_allclose(texture_input(texture, "scale")[0], occlusion.get("strength", 1.0), rtol=1e-6)
            self.same_image(texture, occlusion)

    def emissive(self) -> None:
        strength = self.spec.get("extensions", {}).get("KHR_materials_emissive_strength", {}).get("emissiveStrength", 1.0)
        factor = np.asarray(self.spec.get("emissiveFactor", [0, 0, 0]), dtype=np.float64) * strength
        info = self.spec.get("emissiveTexture")
        if not factor.any():
            assert self.feed("emissiveColor") == (None, None, None)
            return
        self.channel("emissiveColor", info, "rgb", factor, slice(0, 3))

    def extensions(self) -> None:
        """What UsdPreviewSurface carries of KHR_materials_*: authored exactly when the GLB has it."""
        extensions = self.spec.get("extensions", {})
        for name, extension, key, default in (
            ("ior", "KHR_materials_ior", "ior", 1.5),
            ("clearcoat", "KHR_materials_clearcoat", "clearcoatFactor", 0.0),
            ("clearcoatRoughness", "KHR_materials_clearcoat", "clearcoatRoughnessFactor", 0.0),
        ):
            value, texture, _ = self.feed(name)
            assert texture is None and (value is not None) == (extension in extensions), f"{self.where}: {name}"
            if value is not None:
                assert value == pytest.approx(extensions[extension].get(key, default)), f"{self.where}: {name}"

    def same_image(self, texture: UsdShade.Shader, info: dict) -> None:
        """The USDZ entry is present, decodes, and is the GLB's image byte for byte; wraps match."""
        glb_texture = self.gltf["textures"][info["index"]]
        image = self.gltf["images"][glb_texture["source"]]
        view = self.gltf["bufferViews"][image["bufferView"]]
        start = view.get("byteOffset", 0)
        expected = self.binary[start:start + view["byteLength"]]
        data = self.archive.read(texture.GetInput("file").Get().path)
        with Image.open(io.BytesIO(data)) as decoded:
            decoded.load()
        assert data == expected, f"{self.where}: {texture.GetPath().name} is not the GLB's image"
        sampler = self.gltf.get("samplers", [{}])[glb_texture["sampler"]] if "sampler" in glb_texture else {}
        glb_wrap = (WRAP[sampler.get("wrapS", 10497)], WRAP[sampler.get("wrapT", 10497)])
        assert (texture.GetInput("wrapS").Get(), texture.GetInput("wrapT").Get()) == glb_wrap


def texture_input(texture: UsdShade.Shader, name: str) -> np.ndarray:
    given = texture.GetInput(name)
    default = (1.0, 1.0, 1.0, 1.0) if name == "scale" else (0.0, 0.0, 0.0, 0.0)
    return np.asarray(given.Get() if given else default, dtype=np.float64)


def assert_double_sided(stage, gltf, used, usd_materials) -> None:
    by_path = {m.GetPath(): gltf["materials"][index].get("doubleSided", False) for index, m in zip(used, usd_materials)}
    for prim in stage.Traverse():
        if not prim.IsA(UsdGeom.Mesh):
            continue
        mesh = UsdGeom.Mesh(prim)
        binding = UsdShade.MaterialBindingAPI(prim)
        bound = [UsdShade.MaterialBindingAPI(s.GetPrim()).ComputeBoundMaterial()[0] for s in binding.GetMaterialBindSubsets()]
        bound = bound or [binding.ComputeBoundMaterial()[0]]
        for material in bound:
            assert mesh.GetDoubleSidedAttr().Get() == by_path[material.GetPath()], prim.GetPath()


def read_glb(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 12)
    gltf = json.loads(data[20:20 + length])
    rest = 20 + length
    binary = data[rest + 8:] if rest < len(data) else b""
    return gltf, binary


def glb_bounds_and_triangles(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """World box and drawn triangles, node transforms applied, read by trimesh."""
    scene = trimesh.load(str(path), force="scene", process=False)
    low, high, triangles = np.full(3, np.inf), np.full(3, -np.inf), 0
    for node in scene.graph.nodes_geometry:
        matrix, name = scene.graph[node]
        geometry = scene.geometry[name]
        points = trimesh.transform_points(geometry.vertices, matrix)
        low, high = np.minimum(low, points.min(axis=0)), np.maximum(high, points.max(axis=0))
        triangles += len(geometry.faces)
    return low, high, triangles
