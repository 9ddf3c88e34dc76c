"""Upload files built in code — what a catalog team would send, small enough to reason about.

Each builder returns bytes (or writes a file) in a real format, produced independently of our
own exporters where possible (trimesh writes the GLB), so loader tests do not test us against
ourselves.
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
import trimesh
from PIL import Image


def checker_png(size: int = 64, alpha: bool = False) -> bytes:
    """A two-colour checkerboard (alpha: half transparent squares)."""
    tiles = (np.indices((size, size)).sum(axis=0) // 8) % 2
    rgb = np.where(tiles[..., None] == 1, [200, 40, 40], [240, 220, 180]).astype(np.uint8)
    if alpha:
        a = np.where(tiles == 1, 255, 96).astype(np.uint8)[..., None]
        image = Image.fromarray(np.concatenate([rgb, a], axis=2), "RGBA")
    else:
        image = Image.fromarray(rgb, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def box_obj(size=(2.0, 1.0, 0.8), material: str = "wood", mtllib: str = "box.mtl", offset=(0, 0, 0)) -> str:
    """An OBJ box (units as given) with UVs per face and one material."""
    w, h, d = (s / 2 for s in size)
    corners = [(-w, -h, -d), (w, -h, -d), (w, h, -d), (-w, h, -d), (-w, -h, d), (w, -h, d), (w, h, d), (-w, h, d)]
    corners = [(x + offset[0], y + offset[1], z + offset[2]) for x, y, z in corners]
    quads = [(4, 5, 6, 7), (1, 0, 3, 2), (0, 4, 7, 3), (5, 1, 2, 6), (3, 7, 6, 2), (0, 1, 5, 4)]
    lines = [f"mtllib {mtllib}", "o box"] + [f"v {x} {y} {z}" for x, y, z in corners]
    lines += ["vt 0 0", "vt 1 0", "vt 1 1", "vt 0 1", f"usemtl {material}"]
    for quad in quads:
        lines.append("f " + " ".join(f"{v + 1}/{t + 1}" for t, v in enumerate(quad)))
    return "\n".join(lines) + "\n"


def textured_obj_zip(texture_name: str = "wood grain.png", size=(2.0, 1.0, 0.8), extra: dict | None = None) -> bytes:
    """OBJ + MTL + PNG texture in a zip, the way suppliers send them."""
    mtl = f"newmtl wood\nKd 1 1 1\nmap_Kd {texture_name}\n"
    files = {"box.obj": box_obj(size), "box.mtl": mtl, texture_name: checker_png()}
    files.update(extra or {})
    return make_zip(files)


def make_zip(files: dict[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sphere(subdivisions: int = 3, radius: float = 0.5) -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)


def textured_glb(*meshes: trimesh.Trimesh, png: bytes | None = None) -> bytes:
    """A GLB written by trimesh: meshes (a box if none) with UVs and a base-colour texture each."""
    image = Image.open(io.BytesIO(png or checker_png()))
    meshes = meshes or (trimesh.creation.box(extents=(0.9, 0.45, 0.6)),)
    for mesh in meshes:
        xz = mesh.vertices[:, [0, 2]]
        material = trimesh.visual.material.PBRMaterial(baseColorTexture=image, metallicFactor=0.0, roughnessFactor=0.6)
        mesh.visual = trimesh.visual.TextureVisuals(uv=(xz - xz.min(axis=0)) / np.ptp(xz, axis=0), material=material)
    return trimesh.Scene(list(meshes)).export(file_type="glb")


def binary_stl(mesh: trimesh.Trimesh, declared_count: int | None = None) -> bytes:
    triangles = mesh.vertices[mesh.faces].astype(np.float32)
    normals = mesh.face_normals.astype(np.float32)
    count = len(triangles) if declared_count is None else declared_count
    body = b"".join(n.tobytes() + t.tobytes() + b"\x00\x00" for n, t in zip(normals, triangles))
    return b"\x00" * 80 + struct.pack("<I", count) + body


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression-bomb probe: no pixel data)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
