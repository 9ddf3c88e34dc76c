"""web_textures: the web flavour's texture encodes start before decimation, and a run that ends
(or fails) leaves no encoder running and no scratch files."""
import io
from pathlib import Path

import pytest
from PIL import Image

from processing import decimate
from processing.errors import ConversionError
from processing.settings import Settings
from processing.web_textures import WebTextures

from .children import child_pids
from .inputs import sphere, textured_glb
from .test_pipeline import converted


def textured_parts(count: int) -> bytes:
    """A GLB of `count` textured spheres side by side (each at least 4 triangles after decimation)."""
    return textured_glb(*(sphere(2).apply_translation((x, 0, 0)) for x in range(count)))


def test_ktx2_encoders_are_running_when_decimation_starts(tmp_path, monkeypatch):
    seen = {}
    simplify = decimate.run

    def watched(conv, settings):
        seen["encoders"] = [pid for pid in child_pids() - before if Path(f"/proc/{pid}/comm").read_text().strip() == "node"]
        seen["kind"] = conv.web_textures.kind
        simplify(conv, settings)

    monkeypatch.setattr(decimate, "run", watched)
    before = child_pids()
    conv = converted(tmp_path, textured_parts(1), Settings(max_triangles=100, unit="m", web_textures="ktx2"))
    assert seen["kind"] == "ktx2" and seen["encoders"]  # Node was already at work
    assert "texture(s) re-encoded as KTX2" in str(conv.report.as_dict())


def test_a_run_that_fails_while_textures_encode_leaves_no_encoder_and_no_scratch(tmp_path):
    before = child_pids()
    with pytest.raises(ConversionError) as failed:  # 4 parts of at least 4 triangles: over 12
        converted(tmp_path, textured_parts(4), Settings(max_triangles=12, unit="m", web_textures="ktx2"))
    assert failed.value.code == "BUDGET_TOO_SMALL"
    assert child_pids() <= before  # the Node encoders were stopped and reaped
    assert not list((tmp_path / "out").glob("ktx2-*"))


def test_webp_images_are_the_scenes_textures_in_order(pbr_scene):
    with WebTextures(pbr_scene) as textures:
        encoded = [Image.open(io.BytesIO(textures.image(i))) for i in range(len(pbr_scene.textures))]
    assert [image.format for image in encoded] == ["WEBP"] * len(pbr_scene.textures)
    assert [image.size for image in encoded] == [t.image.size for t in pbr_scene.textures]


def test_a_scene_without_textures_starts_nothing(pbr_scene):
    pbr_scene.textures = []
    with WebTextures(pbr_scene, "ktx2") as textures:
        assert textures.kind == "ktx2"
