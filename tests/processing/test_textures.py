"""textures: capped power-of-two sizes, JPEG unless alpha is used, unused textures pruned."""
import io

import numpy as np
import pytest
from PIL import Image

from processing import errors
from processing.errors import ConversionError
from processing.scene import Instance, Material, Mesh, Primitive, Scene, Texture, video_memory
from processing.settings import Limits, Settings
from processing.textures import capped_size, fitted_sizes, run

from .inputs import checker_png


class Holder:
    """The slice of a Conversion the step reads."""

    def __init__(self, scene):
        from processing.report import Report
        self.scene, self.report = scene, Report()


def textured_scene(images, alpha_mode="OPAQUE", used=None) -> Scene:
    materials = [Material(name=f"m{i}", base_color_texture=i, alpha_mode=alpha_mode) for i in range(len(images))]
    used = range(len(images)) if used is None else used
    quad = dict(positions=np.eye(3, dtype=np.float32), faces=np.array([[0, 1, 2]], np.uint32),
                uvs=np.zeros((3, 2), np.float32))
    meshes = [Mesh(f"q{i}", [Primitive(material=i, **quad)]) for i in used]
    return Scene(meshes=meshes, instances=[Instance(f"q{i}", i, np.eye(4)) for i in range(len(meshes))],
                 materials=materials, textures=[Texture(f"t{i}", im) for i, im in enumerate(images)])


@pytest.mark.parametrize("size, cap, expected", [
    ((1000, 1000), 2048, (1024, 1024)), ((4096, 2048), 2048, (2048, 1024)), ((3000, 700), 2048, (2048, 512)),
    ((8192, 8192), 1024, (1024, 1024)), ((1, 1), 2048, (1, 1)), ((600, 300), 2048, (512, 256)),
])
def test_capped_size_is_power_of_two_within_the_cap(size, cap, expected):
    assert capped_size(size, cap) == expected


def test_opaque_textures_become_jpeg_and_shrink_to_the_cap():
    scene = textured_scene([Image.new("RGB", (3000, 1500), (10, 20, 30))])
    run(Holder(scene), Settings(max_texture_size=1024))
    texture = scene.textures[0]
    assert texture.mime_type == "image/jpeg" and texture.image.size == (1024, 512)
    assert Image.open(io.BytesIO(texture.encoded)).format == "JPEG"


def test_alpha_is_kept_as_png_only_when_the_material_uses_it():
    rgba = Image.open(io.BytesIO(checker_png(alpha=True)))
    blended = textured_scene([rgba], alpha_mode="BLEND")
    run(Holder(blended), Settings())
    assert blended.textures[0].mime_type == "image/png" and blended.textures[0].image.mode == "RGBA"
    opaque = textured_scene([rgba.copy()], alpha_mode="OPAQUE")
    run(Holder(opaque), Settings())
    assert opaque.textures[0].mime_type == "image/jpeg"


def test_unused_textures_and_materials_are_pruned():
    scene = textured_scene([Image.new("RGB", (8, 8)), Image.new("RGB", (16, 16))], used=[1])
    run(Holder(scene), Settings())
    assert len(scene.textures) == 1 and scene.textures[0].image.size == (16, 16)
    assert len(scene.materials) == 1 and scene.materials[0].base_color_texture == 0
    assert scene.meshes[0].primitives[0].material == 0


def test_textures_over_the_video_memory_budget_lose_their_largest_first():
    sizes = [(2048, 2048)] * 7 + [(1024, 512)]  # 7 x 21.3 MiB + 2.7 MiB = 152 MiB
    scene = textured_scene([Image.new("RGB", size, (90, 60, 30)) for size in sizes])
    holder = Holder(scene)
    run(holder, Settings(max_texture_memory_mib=128))
    after = [t.image.size for t in scene.textures]
    assert after == [(1024, 1024), (1024, 1024)] + [(2048, 2048)] * 5 + [(1024, 512)]  # 120 MiB
    assert sum(map(video_memory, after)) <= 128 * 2**20 < sum(map(video_memory, sizes))
    assert any("2 texture(s) reduced to fit the texture memory budget: 120 MiB decoded, 152 MiB" in w
               for w in holder.report.warnings)


def test_textures_within_the_budget_are_kept_and_no_edge_is_halved_below_256():
    assert fitted_sizes([(2048, 2048)] * 6, 128 * 2**20) == [(2048, 2048)] * 6  # exactly 128 MiB
    assert fitted_sizes([(4096, 256), (512, 512)], 1) == [(4096, 256), (256, 256)]  # as far as it goes


def test_decoded_bytes_over_the_per_job_limit_are_refused():
    scene = textured_scene([Image.new("RGB", (512, 512))])
    with pytest.raises(ConversionError) as caught:
        run(Holder(scene), Settings(limits=Limits(texture_bytes_per_job=512 * 512)))
    assert caught.value.code == errors.TEXTURE_TOO_LARGE
