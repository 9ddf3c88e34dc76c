"""gltf_details: what trimesh's glTF reader drops from materials and meshes, put back or reported.

trimesh turns a glTF material into a PBRMaterial and forgets the rest of each texture reference:
its sampler (wrap modes), its `texCoord` set, its KHR_texture_transform, and the material's
KHR_materials_* extensions. It also never says that it dropped morph targets, or vertex colours
on a primitive that has a material. This module reads those from the glTF JSON and
- bakes KHR_texture_transform into the UVs, so the GLB and the USDZ both show it without any
  extension (Scene Viewer, Quick Look and USD converters disagree on how to apply the extension
  — three.js's USDZ exporter documents Quick Look applying UsdTransform2d in a different order);
- keeps wrap modes on `Material.texture_wrap` and the KHR_materials_* JSON on
  `Material.extensions`, for the exporters to carry what their format can;
- reports everything else it cannot carry.

A glTF has one UV set per primitive in our scene, so one transform per material is baked: the
base colour's (what a shopper sees), else the first textured slot's. A slot whose transform
differs is reported, as is a slot that reads a second UV set.

Which of trimesh's materials is which glTF material: trimesh keeps only the name, so `load`
renames every glTF material to a unique token before parsing, then maps the tokens back to
material indices and restores the names (also inside texture names, report messages and errors
that were built from them while parsing).
"""
from __future__ import annotations

import json
import math
import re
import struct
from typing import Callable

import numpy as np

from . import errors
from .errors import ConversionError
from .report import Report
from .scene import Material, Scene

_TOKEN = "\x1fvitrine3d-material-{}\x1f"
_TOKENS = re.compile("\x1fvitrine3d-material-([0-9]+)\x1f")
_WRAP = {10497: "repeat", 33071: "clamp", 33648: "mirror"}
_SLOTS = {  # scene slot name → where the glTF material keeps its textureInfo
    "baseColorTexture": ("pbrMetallicRoughness", "baseColorTexture"),
    "metallicRoughnessTexture": ("pbrMetallicRoughness", "metallicRoughnessTexture"),
    "normalTexture": (None, "normalTexture"),
    "occlusionTexture": (None, "occlusionTexture"),
    "emissiveTexture": (None, "emissiveTexture"),
}
# trimesh converts spec-gloss to metallic-roughness itself; the rest stay as JSON on the material.
_CONVERTED_BY_TRIMESH = {"KHR_materials_pbrSpecularGlossiness"}


def load(data: bytes, gltf: dict, report: Report, parse: Callable[[bytes], Scene]) -> Scene:
    """`parse` (trimesh, into our Scene) the glTF `data`, with the details it drops put back."""
    materials = _list(gltf, "materials")
    names = [_name(m) for m in materials]
    try:
        scene = parse(_tagged(data, gltf))
    except ConversionError as exc:
        raise ConversionError(exc.code, _untag(exc.message, names, "material")) from None
    sources = {k: int(match[1]) for k, m in enumerate(scene.materials)
               if (match := _TOKENS.fullmatch(m.name)) and int(match[1]) < len(materials)}
    for material in scene.materials:
        material.name = _untag(material.name, names, "material")
    for texture in scene.textures:
        texture.name = _untag(texture.name, names, "texture")
    report.warnings[:] = [_untag(w, names, "material") for w in report.warnings]
    for index, source in sources.items():
        _apply(scene, index, materials[source], gltf, report)
    _report_mesh_losses(gltf, report)
    return scene


def _tagged(data: bytes, gltf: dict) -> bytes:
    """The .glb/.gltf bytes with material i renamed to a token we recognise afterwards."""
    tagged = json.loads(json.dumps(gltf))
    for index, material in enumerate(_list(tagged, "materials")):
        if isinstance(material, dict):
            material["name"] = _TOKEN.format(index)
    text = json.dumps(tagged, separators=(",", ":")).encode()
    if data[:4] != b"glTF":
        return text
    (json_length,) = struct.unpack_from("<I", data, 12)
    text += b" " * (-len(text) % 4)
    rest = data[20 + json_length:]
    header = struct.pack("<4sII", b"glTF", 2, 20 + len(text) + len(rest))
    return header + struct.pack("<II", len(text), 0x4E4F534A) + text + rest


def _name(material) -> str | None:
    name = material.get("name") if isinstance(material, dict) else None
    return str(name) if name else None


def _untag(text: str, names: list[str | None], fallback: str) -> str:
    """`text` with our tokens turned back into names (a look-alike the file wrote is left be)."""
    def name(match: re.Match) -> str:
        index = int(match[1])
        return (names[index] or fallback) if index < len(names) else match[0]

    return _TOKENS.sub(name, text)


def _apply(scene: Scene, index: int, spec, gltf: dict, report: Report) -> None:
    if not isinstance(spec, dict):
        return
    material = scene.materials[index]
    material.texture_wrap = _wraps(material, spec, gltf)
    extensions = spec.get("extensions")
    material.extensions = {
        k: v for k, v in (extensions if isinstance(extensions, dict) else {}).items()
        if k.startswith("KHR_materials_") and k not in _CONVERTED_BY_TRIMESH and isinstance(v, dict)
    }
    matrix = _uv_transform(material, spec, report)
    if matrix is not None:
        _bake(scene, index, matrix)


def _texture_info(spec: dict, slot: str) -> dict | None:
    parent, key = _SLOTS[slot]
    holder = spec.get(parent) if parent else spec
    info = holder.get(key) if isinstance(holder, dict) else None
    return info if isinstance(info, dict) else None


def _wraps(material: Material, spec: dict, gltf: dict) -> dict[str, tuple[str, str]]:
    wraps = {}
    for slot in material.texture_slots():
        info = _texture_info(spec, slot) or {}
        texture = _item(gltf, "textures", info.get("index"))
        sampler = _item(gltf, "samplers", texture.get("sampler"))
        wrap = (_WRAP.get(sampler.get("wrapS"), "repeat"), _WRAP.get(sampler.get("wrapT"), "repeat"))
        if wrap != ("repeat", "repeat"):
            wraps[slot] = wrap
    return wraps


def _list(gltf: dict, kind: str) -> list:
    items = gltf.get(kind)
    return items if isinstance(items, list) else []


def _item(gltf: dict, kind: str, index) -> dict:
    items = _list(gltf, kind)
    if isinstance(index, int) and 0 <= index < len(items) and isinstance(items[index], dict):
        return items[index]
    return {}


def _uv_transform(material: Material, spec: dict, report: Report) -> np.ndarray | None:
    """The 3x3 matrix to bake into this material's UVs (None: identity), reporting slots that
    cannot share it or read a second UV set."""
    slots = list(material.texture_slots())
    transforms = {}
    for slot in slots:
        info = _texture_info(spec, slot) or {}
        extensions = info.get("extensions")
        extension = extensions.get("KHR_texture_transform") if isinstance(extensions, dict) else None
        extension = extension if isinstance(extension, dict) else {}
        uv_set = extension.get("texCoord", info.get("texCoord", 0))
        if uv_set != 0:
            uv_set = uv_set if isinstance(uv_set, int) else "?"
            report.warn(f"glTF: {slot} of material '{material.name}' reads UV set {uv_set}; only the "
                        "first UV set is carried, so it is mapped with that one")
        transforms[slot] = _matrix(extension, material.name)
    if not transforms:
        return None
    chosen = "baseColorTexture" if "baseColorTexture" in transforms else slots[0]
    for slot, matrix in transforms.items():
        if not np.allclose(matrix, transforms[chosen], atol=1e-7):
            report.warn(f"glTF KHR_texture_transform: {slot} of material '{material.name}' differs from "
                        f"its {chosen}'s; one UV set carries only one, so it is mapped with {chosen}'s")
    return None if np.allclose(transforms[chosen], np.eye(3)) else transforms[chosen]


def _matrix(extension: dict, material: str) -> np.ndarray:
    """KHR_texture_transform as the spec writes it: translation · rotation · scale."""
    try:
        ox, oy = (float(v) for v in extension.get("offset", (0.0, 0.0)))
        sx, sy = (float(v) for v in extension.get("scale", (1.0, 1.0)))
        r = float(extension.get("rotation", 0.0))
    except (TypeError, ValueError):
        raise ConversionError(errors.CORRUPT_FILE, f"A KHR_texture_transform of material '{material}' is malformed.") from None
    if not all(math.isfinite(x) for x in (ox, oy, sx, sy, r)):
        raise ConversionError(errors.CORRUPT_FILE, f"A KHR_texture_transform of material '{material}' is not finite.")
    translation = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]])
    rotation = np.array([[math.cos(r), math.sin(r), 0], [-math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return translation @ rotation @ np.diag([sx, sy, 1.0])


def _bake(scene: Scene, material_index: int, matrix: np.ndarray) -> None:
    for mesh in scene.meshes:
        for prim in mesh.primitives:
            if prim.material == material_index and prim.uvs is not None:
                uv = prim.uvs.astype(np.float64)
                prim.uvs = (uv @ matrix[:2, :2].T + matrix[:2, 2]).astype(np.float32)


def _report_mesh_losses(gltf: dict, report: Report) -> None:
    for index, mesh in enumerate(_list(gltf, "meshes")):
        if not isinstance(mesh, dict):
            continue
        name = mesh.get("name") or f"mesh {index}"
        primitives = [p for p in _list(mesh, "primitives") if isinstance(p, dict)]
        if any(p.get("targets") for p in primitives):
            report.warn(f"glTF morph targets of '{name}' dropped: it is shown in its base shape")
        if any("COLOR_0" in (p.get("attributes") or {}) and "material" in p for p in primitives):
            report.warn(f"Vertex colours of '{name}' dropped (only material colours are carried)")
