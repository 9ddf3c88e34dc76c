"""normalize: the unit's source is always reported, placement puts the product on the floor or wall."""
import numpy as np
import pytest

from processing import errors
from processing.errors import ConversionError
from processing.normalize import guess_unit
from processing.settings import Dimensions, Settings

from .inputs import box_obj, make_zip, textured_glb
from .steps import run_until

BOX_CM = box_obj(size=(200.0, 90.0, 85.0)).encode()  # a sofa, written in centimetres


def normalized(tmp_path, data, **settings):
    return run_until(tmp_path, data, "normalize", Settings(**settings))


def test_unit_given_with_the_upload_wins(tmp_path):
    conv = normalized(tmp_path, BOX_CM, unit="cm")
    np.testing.assert_allclose(conv.scene.size(), (2.0, 0.9, 0.85), rtol=1e-6)
    assert "unit: cm (given with the upload)" in conv.report.assumptions


def test_gltf_is_metres(tmp_path):
    conv = normalized(tmp_path, textured_glb())
    np.testing.assert_allclose(conv.scene.size(), (0.9, 0.45, 0.6), rtol=1e-6)
    assert any("stated by the GLB format" in a for a in conv.report.assumptions)


def test_unit_inferred_from_declared_dimensions(tmp_path):
    conv = normalized(tmp_path, box_obj(size=(2000.0, 900.0, 850.0)).encode(),
                      dimensions=Dimensions(width=200, height=90, depth=85, unit="cm"))
    np.testing.assert_allclose(conv.scene.size(), (2.0, 0.9, 0.85), rtol=1e-6)
    assert "unit: mm (inferred from the declared dimensions)" in conv.report.assumptions


def test_guessed_unit_is_flagged(tmp_path):
    conv = normalized(tmp_path, BOX_CM)
    assert any("GUESSED" in a for a in conv.report.assumptions)
    assert any("unit guessed" in w for w in conv.report.warnings)


@pytest.mark.parametrize("longest, unit", [(0.6, "m"), (180.0, "cm"), (2000.0, "mm"), (355.6, "mm"), (7.25, "in")])
def test_guess_prefers_furniture_sized_results(longest, unit):
    assert guess_unit(np.array([longest, longest / 2, longest / 3])) == unit


def test_declared_dimensions_that_do_not_match_fail_with_both_sizes(tmp_path):
    with pytest.raises(ConversionError) as caught:
        normalized(tmp_path, BOX_CM, unit="cm", dimensions=Dimensions(width=210, height=85, depth=95, unit="cm"))
    assert caught.value.code == errors.DIMENSIONS_MISMATCH
    assert "210 x 85 x 95 cm" in caught.value.message and "200 x 90 x 85 cm" in caught.value.message


def test_floor_placement_puts_the_bottom_on_the_floor_centred(tmp_path):
    obj = box_obj(size=(1.0, 1.0, 1.0), offset=(5.0, 3.0, -2.0))
    low, high = normalized(tmp_path, obj.encode(), unit="m").scene.bounds()
    assert low[1] == pytest.approx(0.0, abs=1e-9)
    assert (low[0] + high[0]) / 2 == pytest.approx(0.0, abs=1e-9)
    assert (low[2] + high[2]) / 2 == pytest.approx(0.0, abs=1e-9)


def test_wall_placement_puts_the_back_on_the_wall(tmp_path):
    low, high = normalized(tmp_path, BOX_CM, unit="cm", placement="wall").scene.bounds()
    assert low[2] == pytest.approx(0.0, abs=1e-9) and low[1] == pytest.approx(0.0, abs=1e-9)
    assert (low[0] + high[0]) / 2 == pytest.approx(0.0, abs=1e-9)


def test_instances_are_scaled_without_touching_shared_geometry(tmp_path):
    conv = normalized(tmp_path, make_zip({"box.obj": BOX_CM}), unit="cm")
    positions = conv.scene.meshes[0].primitives[0].positions
    assert np.ptp(positions[:, 0]) == pytest.approx(200.0)  # the mesh is untouched; its placement scales


def test_reconciliation_finds_unit_and_turn_and_says_so(tmp_path):
    # millimetres, Z-up, width and depth swapped: 850 x 2000 (depth, along y) x 900 (height, along z)
    obj = box_obj(size=(850.0, 2000.0, 900.0)).encode()
    conv = normalized(tmp_path, obj, dimensions=Dimensions(width=200, height=90, depth=85, unit="cm"))
    np.testing.assert_allclose(conv.scene.size(), (2.0, 0.9, 0.85), rtol=1e-6)
    assert "unit: mm (inferred from the declared dimensions)" in conv.report.assumptions
    assert "rotated Z-up → Y-up, width/depth swapped to match the declared dimensions" in conv.report.assumptions


def test_up_axis_given_with_the_upload_limits_the_turns_tried(tmp_path):
    obj = box_obj(size=(2000.0, 850.0, 900.0)).encode()  # Z-up in mm
    with pytest.raises(ConversionError) as caught:
        normalized(tmp_path, obj, up_axis="y", dimensions=Dimensions(width=200, height=90, depth=85, unit="cm"))
    assert caught.value.code == errors.DIMENSIONS_MISMATCH
    assert "read as mm" in caught.value.message


def test_unit_stated_by_the_file_is_not_overridden_by_the_catalog(tmp_path):
    # a GLB is metres: declared dimensions 100 times larger do not make it centimetres
    with pytest.raises(ConversionError) as caught:
        normalized(tmp_path, textured_glb(), dimensions=Dimensions(width=90, height=45, depth=60, unit="m"))
    assert caught.value.code == errors.DIMENSIONS_MISMATCH


@pytest.mark.parametrize("front, expected", [("+z", (2.0, 0.9, 0.85)), ("-z", (2.0, 0.9, 0.85)),
                                             ("+x", (0.85, 0.9, 2.0)), ("-x", (0.85, 0.9, 2.0))])
def test_front_turns_about_the_vertical(tmp_path, front, expected):
    conv = normalized(tmp_path, BOX_CM, unit="cm", front=front)
    np.testing.assert_allclose(conv.scene.size(), expected, rtol=1e-6)
    assert f"front: {front} turned to face +Z (given with the upload)" in conv.report.assumptions
