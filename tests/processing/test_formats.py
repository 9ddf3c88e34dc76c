"""Every catalog format loads with its geometry, UVs and texture, converts to outputs the outside
oracles accept, and its hostile variants are refused with a code (issue 5)."""
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from processing import errors, load_collada, load_fbx
from processing.errors import ConversionError
from processing.load_step import declared_unit
from processing.pipeline import convert
from processing.settings import Dimensions, Settings
from processing.usdz_checks import usdz_stats

from ..oracles import assert_valid_glb, assert_valid_usdz
from .format_inputs import dae_box, dae_zip, fbx_box, fbx_zip, max3ds_box, max3ds_zip, usd_box, usdz_box
from .children import child_pids
from .inputs import checker_png, make_zip, png_header
from .steps import run_until

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
SOFA_CM = (200.0, 90.0, 85.0)

TEXTURED = {
    "fbx-binary-zip": lambda: fbx_zip(fbx_box()),
    "fbx-ascii-embedded": lambda: fbx_box(binary=False, embed=True),
    "fbx-binary-embedded": lambda: fbx_box(embed=True),
    "fbx-windows-path": lambda: fbx_zip(fbx_box(texture_path="C:\\Users\\bob\\Documents\\maps\\wood.png")),
    "fbx-relative-climbing-path": lambda: fbx_zip(fbx_box(texture_path="..\\..\\textures\\wood.png")),
    "dae-zip": lambda: dae_zip(dae_box()),
    "dae-windows-path": lambda: dae_zip(dae_box(texture_path="C:\\Users\\bob\\wood.png")),
    "3ds-zip-uppercase-8.3-name": lambda: max3ds_zip(texture_name="WOOD.PNG"),
    "usda-zip": lambda: make_zip({"box.usda": usd_box(), "wood.png": checker_png()}),
    "usdc-zip": lambda: make_zip({"box.usdc": usd_box(binary=True), "wood.png": checker_png()}),
    "usdz": usdz_box,
}
FORMAT_OF = {"fbx": "fbx", "dae": "dae", "3ds": "3ds", "usda": "usd", "usdc": "usd", "usdz": "usd"}


@pytest.mark.parametrize("name", TEXTURED)
def test_loads_geometry_uvs_and_texture(tmp_path, name):
    conv = run_until(tmp_path, TEXTURED[name](), "load")
    scene = conv.scene
    assert conv.upload.format == FORMAT_OF[name.split("-")[0]]
    assert scene.triangle_count == 12
    prims = [p for m in scene.meshes for p in m.primitives]
    assert all(p.uvs is not None for p in prims)
    assert all(0 <= p.uvs.min() and p.uvs.max() <= 1 for p in prims)
    material = scene.materials[prims[0].material]
    assert material.base_color_texture is not None, conv.report.warnings
    assert scene.textures[material.base_color_texture].image.size == (64, 64)
    assert not conv.report.warnings


@pytest.mark.parametrize("name", ["fbx-binary-zip", "fbx-ascii-embedded", "dae-zip", "3ds-zip-uppercase-8.3-name", "usdz"])
def test_converts_to_valid_outputs_at_the_catalog_size(tmp_path, name):
    source = tmp_path / "upload"
    source.write_bytes(TEXTURED[name]())
    conv = convert(source, tmp_path / "out", Settings(dimensions=Dimensions(width=200, height=90, depth=85, unit="cm")))
    assert_valid_glb(conv.outputs["glb"])
    assert_valid_usdz(conv.outputs["usdz"])
    np.testing.assert_allclose(usdz_stats(conv.outputs["usdz"])["size"], (2.0, 0.9, 0.85), rtol=5e-3)
    assert conv.report.output["textures"] == 1


def test_fbx_unit_and_up_axis_come_from_the_file(tmp_path):
    conv = run_until(tmp_path, fbx_box(SOFA_CM, unit_cm=0.1, z_up=True), "normalize")  # millimetres, Z-up
    np.testing.assert_allclose(conv.scene.size(), (0.2, 0.09, 0.085), rtol=1e-6)
    assert any(a.startswith("unit: mm (stated by the file: FBX") for a in conv.report.assumptions)
    assert any(a.startswith("up axis: +z (stated by the file: FBX") for a in conv.report.assumptions)


def test_collada_unit_and_up_axis_come_from_the_file(tmp_path):
    conv = run_until(tmp_path, dae_zip(dae_box((2000, 900, 850), meter=0.001, z_up=True)), "normalize")
    np.testing.assert_allclose(conv.scene.size(), (2.0, 0.9, 0.85), rtol=1e-6)
    assert any(a.startswith("unit: mm (stated by the file: COLLADA") for a in conv.report.assumptions)


def test_usd_unit_and_up_axis_come_from_the_stage(tmp_path):
    conv = run_until(tmp_path, make_zip({"b.usda": usd_box((2.0, 0.9, 0.85), meters_per_unit=1.0, z_up=True),
                                         "wood.png": checker_png()}), "normalize")
    np.testing.assert_allclose(conv.scene.size(), (2.0, 0.9, 0.85), rtol=1e-6)
    assert any(a.startswith("up axis: +z (stated by the file: USD") for a in conv.report.assumptions)


def test_usd_without_meters_per_unit_states_no_unit(tmp_path):
    data = make_zip({"b.usda": usd_box((200, 90, 85), meters_per_unit=None), "wood.png": checker_png()})
    conv = run_until(tmp_path, data, "normalize", Settings(dimensions=Dimensions(width=200, height=90, depth=85)))
    assert "unit: cm (inferred from the declared dimensions)" in conv.report.assumptions


def test_3ds_is_z_up_and_takes_its_unit_from_the_catalog(tmp_path):
    conv = run_until(tmp_path, max3ds_zip((2000, 900, 850)), "normalize",
                     Settings(dimensions=Dimensions(width=2, height=0.9, depth=0.85, unit="m")))
    np.testing.assert_allclose(conv.scene.size(), (2.0, 0.9, 0.85), rtol=1e-6)
    assert "unit: mm (inferred from the declared dimensions)" in conv.report.assumptions
    assert any(a.startswith("up axis: +z (stated by the file: 3DS") for a in conv.report.assumptions)


# --- STEP ------------------------------------------------------------------------------------------

def corpus_step() -> Path:
    path = CORPUS / "models" / "featuretype" / "featuretype.STEP"
    if not path.is_file() and os.environ.get("CI"):
        raise AssertionError(f"the shared corpus is missing at {path}")
    return path


def test_step_unit_is_read_from_its_unit_context():
    text = (b"#10 = ( LENGTH_UNIT ( ) NAMED_UNIT ( * ) SI_UNIT ( .MILLI., .METRE. ) );\n"
            b"#11 = ( GEOMETRIC_REPRESENTATION_CONTEXT ( 3 ) GLOBAL_UNIT_ASSIGNED_CONTEXT ( ( #10, #12 ) ) );\n")
    assert declared_unit(text) == "mm"
    assert declared_unit(b"no units here") == "not found"


def test_step_corpus_part_is_tessellated_at_its_size_in_real_units(tmp_path):
    path = corpus_step()
    if not path.is_file():
        assert not os.environ.get("CI"), f"the shared corpus is missing at {path}"
        pytest.skip("the shared corpus is not next to this checkout (CI requires it)")
    conv = convert(path, tmp_path / "out", Settings())
    assert_valid_glb(conv.outputs["glb"])
    assert_valid_usdz(conv.outputs["usdz"])
    report = json.loads(conv.outputs["report"].read_text())
    # a 5 x 2.5 x 1.375 inch part, STEP in inches, lying on its largest face (+Y assumed up)
    size = sorted(report["dimensions_m"].values())
    np.testing.assert_allclose(size, sorted((5 * 0.0254, 2.5 * 0.0254, 1.375 * 0.0254)), rtol=1e-3)
    assert any("STEP length unit (INCH)" in a for a in report["assumptions"])
    load = next(s for s in report["steps"] if s["name"] == "load")
    output_pass = load["details"]["tessellation"]["passes"][-1]
    assert 0.05 < output_pass["chordal_tolerance_mm"] < 0.1  # 0.05 % of a 146 mm diagonal
    assert 1000 < report["input"]["triangles"] < 20_000


def test_step_that_is_not_cad_fails_cleanly(tmp_path):
    data = b"ISO-10303-21;\nHEADER;\nENDSEC;\nDATA;\n#1 = CARTESIAN_POINT('', (0., 0., 0.));\nENDSEC;\nEND-ISO-10303-21;\n"
    with pytest.raises(ConversionError) as caught:
        run_until(tmp_path, data, "load")
    assert caught.value.code in (errors.NO_GEOMETRY, errors.CORRUPT_FILE)


# --- hostile variants --------------------------------------------------------------------------------

SECRET = "canary-7d1f0c"

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE COLLADA [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>
<COLLADA xmlns="http://www.collada.org/2005/11/COLLADASchema" version="1.4.1"><asset><contributor>&c;</contributor></asset></COLLADA>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE COLLADA [<!ENTITY leak SYSTEM "file://{path}">]>
<COLLADA xmlns="http://www.collada.org/2005/11/COLLADASchema" version="1.4.1"><asset><contributor>&leak;</contributor></asset></COLLADA>
"""


def refused(tmp_path, data: bytes, code: str):
    with pytest.raises(ConversionError) as caught:
        run_until(tmp_path, data, "load")
    assert caught.value.code == code, caught.value.message
    assert SECRET not in caught.value.message and str(tmp_path / "work") not in caught.value.message
    return caught.value


@pytest.mark.parametrize("document", ["laughs", "xxe"])
def test_collada_with_a_doctype_is_refused_before_parsing(tmp_path, document):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    text = BILLION_LAUGHS if document == "laughs" else XXE.format(path=secret)
    refused(tmp_path, text.encode(), errors.UNSAFE_INPUT)


def test_the_doctype_check_reads_xml_not_bytes(tmp_path):
    """A UTF-16 document hides "<!DOCTYPE" from a byte search; the parser still sees it."""
    text = XXE.format(path="/etc/hostname").replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    path = tmp_path / "box.dae"
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(ConversionError) as caught:
        load_collada._scan(path)
    assert caught.value.code == errors.UNSAFE_INPUT


def test_collada_nesting_too_deep_is_refused(tmp_path):
    body = "<node>" * 500 + "</node>" * 500
    data = f'<?xml version="1.0"?><COLLADA xmlns="http://www.collada.org/2005/11/COLLADASchema">{body}</COLLADA>'
    refused(tmp_path, data.encode(), errors.CORRUPT_FILE)


@pytest.mark.parametrize("where", [
    "sublayer-absolute", "reference-climbing", "payload-absolute", "texture-absolute", "reference-in-variant",
    "reference-url", "expression",
])
def test_usd_that_reaches_outside_the_upload_is_refused_before_composing(tmp_path, where):
    outside = tmp_path / "outside.usda"
    outside.write_text(f'#usda 1.0\ndef Mesh "leak" {{ point3f[] points = [(0,0,0)] string s = "{SECRET}" }}\n')
    extra = {
        "reference-climbing": 'over "x" ( references = @../outside.usda@ ) {}\n',
        "payload-absolute": f'over "x" ( payload = @{outside}@ ) {{}}\n',
        "texture-absolute": f'over "x"\n{{\n    asset tex = @{outside}@\n}}\n',
        "reference-in-variant": f'over "x"\n{{\n    variantSet "v" = {{\n        "a" ( references = @{outside}@ ) {{\n        }}\n    }}\n}}\n',
        "reference-url": 'over "x" ( references = @https://example.com/a.usda@ ) {}\n',
        "expression": 'over "x" ( references = @`"../outside.usda"`@ ) {}\n',
    }.get(where, "")
    text = usd_box(extra="\n" + extra).decode()
    if where == "sublayer-absolute":
        text = text.replace("(\n", f"(\n    subLayers = [@{outside}@]\n", 1)
    data = make_zip({"sub/box.usda": text, "sub/wood.png": checker_png()})
    refused(tmp_path, data, errors.REFERENCE_UNSAFE)


def test_usd_with_an_inside_reference_composes(tmp_path):
    part = usd_box((2.0, 0.9, 0.85), meters_per_unit=1.0).decode()
    root = '#usda 1.0\n(\n    metersPerUnit = 1\n    upAxis = "Y"\n)\ndef Xform "product" ( references = @./parts/box.usda@ ) {}\n'
    conv = run_until(tmp_path, make_zip({"product.usda": root, "parts/box.usda": part, "parts/wood.png": checker_png()}),
                     "load")
    assert conv.scene.triangle_count == 12


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
def test_truncated_fbx_is_a_corrupt_file(tmp_path, cut):
    data = fbx_box(embed=True)
    refused(tmp_path, data[: int(len(data) * cut)], errors.CORRUPT_FILE)


def test_truncated_3ds_is_refused(tmp_path):
    model = max3ds_box()
    with pytest.raises(ConversionError) as caught:
        run_until(tmp_path, make_zip({"box.3ds": model[:100], "WOOD.PNG": checker_png()}), "load")
    assert caught.value.code in (errors.CORRUPT_FILE, errors.UNSUPPORTED_FORMAT, errors.NO_GEOMETRY)


def test_fbx_texture_outside_the_upload_is_matched_by_name_inside_only(tmp_path):
    (tmp_path / "wood.png").write_bytes(checker_png())
    conv = run_until(tmp_path, fbx_box(texture_path=str(tmp_path / "wood.png")), "load", name="upload.fbx")
    # the texture exists on this disk, but not in the upload: it is not read
    assert not conv.scene.textures
    assert any("not in the upload" in w for w in conv.report.warnings)


def test_fbx_is_read_in_a_child_whose_refusals_and_units_reach_the_conversion(tmp_path):
    """load_fbx reads in a forked process (ufbx can crash freeing a scene): what the reading
    learned — a refused texture, the file's unit and axis — still decides the conversion."""
    before = child_pids()
    bomb = make_zip({"box.fbx": fbx_box(), "wood.png": png_header(100_000, 100_000)})
    (tmp_path / "bomb").mkdir()
    with pytest.raises(ConversionError) as caught:
        run_until(tmp_path / "bomb", bomb, "load")
    assert caught.value.code == errors.TEXTURE_TOO_LARGE
    (tmp_path / "mm").mkdir()
    conv = run_until(tmp_path / "mm", fbx_box(SOFA_CM, unit_cm=0.1, z_up=True), "load")
    assert (conv.upload.stated.metres_per_unit, conv.upload.stated.up_axis) == (pytest.approx(0.001), "+z")
    assert child_pids() <= before


def test_an_fbx_that_crashes_the_reader_is_a_corrupt_file_and_is_not_read_again_here(tmp_path, monkeypatch):
    """ufbx crashing on a hostile file kills only the reading child; reading it again in the
    conversion process would crash that too, so the job fails with CORRUPT_FILE instead."""
    parent = os.getpid()

    def crashing_read(*args):
        if os.getpid() == parent:
            raise AssertionError("the FBX was read again in the conversion process")
        os.kill(os.getpid(), signal.SIGSEGV)

    monkeypatch.setattr(load_fbx, "_read", crashing_read)
    before = child_pids()
    with pytest.raises(ConversionError) as caught:
        run_until(tmp_path, fbx_box(), "load")
    assert caught.value.code == errors.CORRUPT_FILE
    assert "FBX reader stopped" in caught.value.message
    assert child_pids() <= before


def test_an_fbx_read_that_runs_out_of_memory_is_the_conversions_out_of_memory(tmp_path, monkeypatch):
    def exhausting_read(*args):
        raise MemoryError

    monkeypatch.setattr(load_fbx, "_read", exhausting_read)
    with pytest.raises(MemoryError):
        run_until(tmp_path, fbx_box(), "load")


def test_usd_that_does_not_parse_is_a_corrupt_file(tmp_path):
    refused(tmp_path, b"#usda 1.0\ndef Mesh \"m\" {\n    point3f[] points = [(0, 0\n", errors.CORRUPT_FILE)
