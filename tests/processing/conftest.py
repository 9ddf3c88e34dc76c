"""Small scenes built in code, as the pipeline hands them to the exporters.

Each is in metres, +Y up, with every texture already encoded (as the textures step leaves them),
and small enough that a test reading the output back can compare every value.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from processing.scene import Instance, Material, Mesh, Primitive, Scene, Texture


def encoded_texture(name: str, image: Image.Image, fmt: str = "PNG") -> Texture:
    """A texture with `encoded`/`mime_type` filled, the way the textures step leaves it."""
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    mime = {"PNG": "image/png", "JPEG": "image/jpeg"}[fmt]
    return Texture(name=name, image=image, encoded=buffer.getvalue(), mime_type=mime)


def gradient_image(size: int = 16, mode: str = "RGB") -> Image.Image:
    """An image whose pixels all differ, so a flipped or swapped mapping would show."""
    ramp = np.linspace(0, 255, size, dtype=np.uint8)
    red, green = np.meshgrid(ramp, ramp)
    channels = [red, green, np.full_like(red, 128)]
    if mode == "RGBA":
        channels.append(np.flip(red, axis=1))
    return Image.fromarray(np.stack(channels, axis=-1), mode)


def box_primitive(
    size=(1.0, 1.0, 1.0), center=(0.0, 0.0, 0.0), material: int = 0
) -> Primitive:
    """An axis-aligned box: 6 faces of 4 vertices each (own normals and UVs), 12 triangles."""
    half = np.asarray(size, dtype=np.float64) / 2
    positions, normals, uvs, faces = [], [], [], []
    corners = ((-1, -1), (1, -1), (1, 1), (-1, 1))  # counter-clockwise seen from outside
    for axis in range(3):
        for sign in (1, -1):
            n = np.zeros(3)
            n[axis] = sign
            u, v = np.eye(3)[(axis + 1) % 3], np.eye(3)[(axis + 2) % 3]
            if sign < 0:
                u, v = v, u  # keeps u × v = n, so the winding faces outwards
            base = len(positions)
            for cu, cv in corners:
                positions.append(center + half * (n + cu * u + cv * v))
                normals.append(n)
                uvs.append(((cu + 1) / 2, 1 - (cv + 1) / 2))  # glTF: v = 0 at the image top
            faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return Primitive(
        positions=np.asarray(positions, dtype=np.float32),
        faces=np.asarray(faces, dtype=np.uint32),
        material=material,
        normals=np.asarray(normals, dtype=np.float32),
        uvs=np.asarray(uvs, dtype=np.float32),
    )


def quad_primitive(x: float = 0.0, material: int = 0) -> Primitive:
    """A 1 m square facing +Z, its left edge at `x`, with UVs over the whole image."""
    positions = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32) + [x, 0, 0]
    return Primitive(
        positions=positions.astype(np.float32),
        faces=np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32),
        material=material,
        normals=np.tile(np.array([0, 0, 1], dtype=np.float32), (4, 1)),
        uvs=np.array([[0, 1], [1, 1], [1, 0], [0, 0]], dtype=np.float32),
    )


def single_mesh_scene(primitives, materials, textures=()) -> Scene:
    return Scene(
        meshes=[Mesh("product", list(primitives))],
        instances=[Instance("product", 0, np.eye(4))],
        materials=list(materials),
        textures=list(textures),
    )


@pytest.fixture
def textured_box_scene() -> Scene:
    """A 0.5 × 0.8 × 0.3 m box standing on the floor, base colour from a PNG tinted by a factor."""
    return single_mesh_scene(
        [box_primitive((0.5, 0.8, 0.3), (0.0, 0.4, 0.0))],
        [Material("oak", base_color_factor=(0.9, 0.8, 0.7, 1.0), base_color_texture=0)],
        [encoded_texture("oak wood.png", gradient_image())],
    )


@pytest.fixture
def factors_scene() -> Scene:
    """No textures at all: every channel comes from a factor."""
    return single_mesh_scene(
        [box_primitive((1.2, 0.75, 0.6), (0.0, 0.375, 0.0))],
        [
            Material(
                "lacquer",
                base_color_factor=(0.2, 0.4, 0.6, 1.0),
                metallic_factor=0.25,
                roughness_factor=0.6,
                emissive_factor=(0.1, 0.0, 0.05),
                double_sided=True,
            )
        ],
    )


@pytest.fixture
def alpha_scene() -> Scene:
    """Three quads side by side: MASK and BLEND from an RGBA PNG, BLEND over an opaque JPEG."""
    return single_mesh_scene(
        [quad_primitive(0.0, 0), quad_primitive(1.0, 1), quad_primitive(2.0, 2)],
        [
            Material("cane", base_color_texture=0, alpha_mode="MASK", alpha_cutoff=0.35, double_sided=True),
            Material("glass", base_color_factor=(1, 1, 1, 0.6), base_color_texture=0, alpha_mode="BLEND"),
            Material("tinted", base_color_factor=(1, 1, 1, 0.4), base_color_texture=1, alpha_mode="BLEND"),
        ],
        [
            encoded_texture("cane.png", gradient_image(mode="RGBA")),
            encoded_texture("tint.jpg", gradient_image(), "JPEG"),
        ],
    )


@pytest.fixture
def pbr_scene() -> Scene:
    """Every glTF slot used: base colour (JPEG), packed ORM, normal map, emissive."""
    return single_mesh_scene(
        [box_primitive((0.4, 0.4, 0.4), (0.0, 0.2, 0.0))],
        [
            Material(
                "leather",
                base_color_texture=0,
                metallic_factor=0.5,
                roughness_factor=0.8,
                metallic_roughness_texture=1,
                normal_texture=2,
                normal_scale=0.75,
                occlusion_texture=1,
                occlusion_strength=0.6,
                emissive_texture=0,
                emissive_factor=(0.5, 0.25, 1.0),
            )
        ],
        [
            encoded_texture("leather_basecolor.jpg", gradient_image(), "JPEG"),
            encoded_texture("leather_orm.png", gradient_image()),
            encoded_texture("leather_normal.png", Image.new("RGB", (16, 16), (128, 128, 255))),
        ],
    )


@pytest.fixture
def instanced_scene() -> Scene:
    """One leg mesh placed three times: shifted; turned 30° about Y and scaled; mirrored in X."""
    def placed(linear: np.ndarray, offset) -> np.ndarray:
        matrix = np.eye(4)
        matrix[:3, :3], matrix[:3, 3] = linear, offset
        return matrix

    turn = np.radians(30)
    rotation = np.array([[np.cos(turn), 0, np.sin(turn)], [0, 1, 0], [-np.sin(turn), 0, np.cos(turn)]])
    return Scene(
        meshes=[Mesh("leg", [box_primitive((0.05, 0.7, 0.1), (0.1, 0.35, 0.0))])],
        instances=[
            Instance("leg", 0, placed(np.eye(3), (-0.8, 0.0, 0.3))),
            Instance("leg", 0, placed(rotation * 1.5, (0.8, 0.0, -0.3))),
            Instance("leg", 0, placed(np.diag([-1.0, 1.0, 1.0]), (0.0, 0.0, 0.5))),
        ],
        materials=[Material("steel", base_color_factor=(0.6, 0.6, 0.6, 1.0), metallic_factor=1.0)],
    )


@pytest.fixture
def two_material_scene() -> Scene:
    """One mesh, two primitives (seat and frame), two materials."""
    return single_mesh_scene(
        [
            box_primitive((0.5, 0.1, 0.5), (0.0, 0.45, 0.0), material=0),
            box_primitive((0.5, 0.4, 0.05), (0.0, 0.2, -0.225), material=1),
        ],
        [
            Material("fabric", base_color_factor=(0.7, 0.1, 0.1, 1.0), roughness_factor=0.9),
            Material("walnut", base_color_texture=0, metallic_factor=0.0),
        ],
        [encoded_texture("walnut.jpg", gradient_image(), "JPEG")],
    )


@pytest.fixture
def wrapped_scene() -> Scene:
    """A quad whose base colour clamps along s and mirrors along t; its normal map repeats."""
    return single_mesh_scene(
        [quad_primitive()],
        [
            Material(
                "tiles",
                base_color_texture=0,
                normal_texture=1,
                texture_wrap={"baseColorTexture": ("clamp", "mirror")},
            )
        ],
        [
            encoded_texture("tiles.jpg", gradient_image(), "JPEG"),
            encoded_texture("tiles_normal.png", Image.new("RGB", (16, 16), (128, 128, 255))),
        ],
    )


@pytest.fixture
def extensions_scene() -> Scene:
    """KHR_materials_* extensions: some UsdPreviewSurface can express, some it cannot."""
    return single_mesh_scene(
        [box_primitive((0.6, 0.4, 0.6), (0.0, 0.2, 0.0))],
        [
            Material(
                "fabric",
                base_color_factor=(0.3, 0.3, 0.5, 1.0),
                emissive_factor=(0.2, 0.1, 0.0),
                extensions={
                    "KHR_materials_sheen": {"sheenColorFactor": [1, 1, 1], "sheenRoughnessFactor": 0.5},
                    "KHR_materials_transmission": {"transmissionFactor": 0.4},
                    "KHR_materials_clearcoat": {"clearcoatFactor": 0.7, "clearcoatRoughnessFactor": 0.2,
                                                "clearcoatTexture": {"index": 0}},
                    "KHR_materials_ior": {"ior": 1.33},
                    "KHR_materials_emissive_strength": {"emissiveStrength": 4.0},
                },
            )
        ],
    )


@pytest.fixture(
    params=[
        "textured_box_scene",
        "factors_scene",
        "alpha_scene",
        "pbr_scene",
        "instanced_scene",
        "two_material_scene",
        "wrapped_scene",
        "extensions_scene",
    ]
)
def each_scene(request) -> Scene:
    """Every scene above, one test run each."""
    return request.getfixturevalue(request.param)
