"""The models the end-to-end tests upload, each with the catalog data a shop would enter.

Two are built here in code (a textured box as an OBJ+MTL+PNG zip, in centimetres, and a
textured GLB in metres); when the shared corpus sits beside the repository (../shared/corpus)
two real third-party files join them. Declared dimensions come from the model itself (or
its construction), never from what the service reports, so the scale check means something.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import trimesh
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"  # beside the repository, here and in CI

# Six faces of a unit box centred on the origin: outward normal, and the two in-plane axes that
# span it (u × v = normal, so each face winds counter-clockwise seen from outside).
_FACES = [
    ((1, 0, 0), (0, 0, -1), (0, 1, 0)),
    ((-1, 0, 0), (0, 0, 1), (0, 1, 0)),
    ((0, 1, 0), (1, 0, 0), (0, 0, -1)),
    ((0, -1, 0), (1, 0, 0), (0, 0, 1)),
    ((0, 0, 1), (1, 0, 0), (0, 1, 0)),
    ((0, 0, -1), (-1, 0, 0), (0, 1, 0)),
]


@dataclass(frozen=True)
class ModelCase:
    sku: str
    name: str
    filename: str
    build: Callable[[], bytes]
    dimensions: dict
    placement: str = "floor"
    form: dict[str, str] = field(default_factory=dict)

    @property
    def dimensions_m(self) -> tuple[float, float, float]:
        scale = {"mm": 0.001, "cm": 0.01, "m": 1.0}[self.dimensions["unit"]]
        return tuple(self.dimensions[key] * scale for key in ("width", "height", "depth"))


def textured_box(size: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A box of `size` standing on y=0: 24 vertices (4 per face, so each face has its own UVs
    and normal), 12 triangles. Returns positions, normals, uvs, faces."""
    half = np.array(size) / 2
    positions, normals, uvs, faces = [], [], [], []
    for index, (normal, u, v) in enumerate(_FACES):
        normal, u, v = (np.array(a, dtype=float) for a in (normal, u, v))
        for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            positions.append((normal + du * u + dv * v) * half + [0, half[1], 0])
            normals.append(normal)
            uvs.append(((du + 1) / 2, (dv + 1) / 2))
        base = 4 * index
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return np.array(positions), np.array(normals), np.array(uvs), np.array(faces)


def checker_texture(size: int = 64, squares: int = 8) -> Image.Image:
    """A colourful checkerboard: a rendering of it can never look blank."""
    cells = (np.indices((size, size)) // (size // squares)).sum(axis=0) % 2
    ramp = np.linspace(40, 220, size, dtype=np.uint8)
    red = np.where(cells, 230, ramp[None, :]).astype(np.uint8)
    green = np.where(cells, 120, ramp[:, None]).astype(np.uint8)
    blue = np.where(cells, 30, 200).astype(np.uint8)
    return Image.fromarray(np.dstack([red, green, blue]), "RGB")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def obj_zip_in_cm() -> bytes:
    """Sideboard, 120 × 80 × 45 cm, as an OBJ in centimetres + MTL + PNG texture, zipped."""
    positions, normals, uvs, faces = textured_box((120.0, 80.0, 45.0))
    lines = ["mtllib sideboard.mtl", "o sideboard"]
    lines += [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in positions]
    lines += [f"vt {u:.4f} {v:.4f}" for u, v in uvs]
    lines += [f"vn {x:.1f} {y:.1f} {z:.1f}" for x, y, z in normals]
    lines.append("usemtl oak")
    lines += ["f " + " ".join(f"{i + 1}/{i + 1}/{i + 1}" for i in face) for face in faces]
    mtl = "newmtl oak\nKd 1.0 1.0 1.0\nmap_Kd textures/oak.png\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("sideboard.obj", "\n".join(lines) + "\n")
        archive.writestr("sideboard.mtl", mtl)
        archive.writestr("textures/oak.png", _png(checker_texture()))
    return buffer.getvalue()


def glb_in_metres() -> bytes:
    """Wall cabinet, 0.6 × 0.9 × 0.35 m, textured, exported by trimesh as a GLB."""
    positions, normals, uvs, faces = textured_box((0.6, 0.9, 0.35))
    material = trimesh.visual.material.PBRMaterial(
        name="lacquer", baseColorTexture=checker_texture(), metallicFactor=0.0, roughnessFactor=0.6
    )
    mesh = trimesh.Trimesh(
        vertices=positions,
        faces=faces,
        vertex_normals=normals,
        visual=trimesh.visual.TextureVisuals(uv=uvs, material=material),
        process=False,
    )
    return trimesh.Scene(mesh).export(file_type="glb")


def _corpus_extents(path: Path) -> tuple[float, float, float]:
    """Width, height, depth of a corpus model in its own units (node transforms applied)."""
    return tuple(float(x) for x in trimesh.load(path).extents)


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, path.name)
    return buffer.getvalue()


def _dimensions(extents: tuple[float, float, float], unit: str, per_unit: float) -> dict:
    width, height, depth = (round(x / per_unit, 2) for x in extents)
    return {"width": width, "height": height, "depth": depth, "unit": unit}


def _corpus_cases() -> list[ModelCase]:
    if not CORPUS.is_dir():
        return []
    duck = CORPUS / "models/duck/Duck.glb"
    fuze = CORPUS / "models/fuze"
    return [
        ModelCase(
            sku="CORPUS-DUCK",
            name="Duck (Khronos sample, cm mesh under a 0.01 node scale)",
            filename="Duck.glb",
            build=duck.read_bytes,
            dimensions=_dimensions(_corpus_extents(duck), "cm", 0.01),
        ),
        ModelCase(
            sku="CORPUS-FUZE",
            name="Fuze bottle (OBJ + MTL + JPEG with a space in its name)",
            filename="fuze.zip",
            build=lambda: _zip_folder(fuze),
            # The OBJ states no unit: declaring the size in cm lets the service infer metres.
            dimensions=_dimensions(_corpus_extents(fuze / "fuze.obj"), "cm", 0.01),
        ),
    ]


def model_cases() -> list[ModelCase]:
    return [
        ModelCase(
            sku="SIDEBOARD-OBJ",
            name='Sideboard <b>"Oak"</b> & drawers',
            filename="sideboard.zip",
            build=obj_zip_in_cm,
            dimensions={"width": 120, "height": 80, "depth": 45, "unit": "cm"},
        ),
        ModelCase(
            sku="CABINET-GLB",
            name="Wall cabinet",
            filename="cabinet.glb",
            build=glb_in_metres,
            dimensions={"width": 60, "height": 90, "depth": 35, "unit": "cm"},
            placement="wall",
        ),
        *_corpus_cases(),
    ]
