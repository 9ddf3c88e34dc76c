"""textures: cap sizes, pick the encoding, and drop what no material uses.

- Size: the longest edge is capped at `max_texture_size` and each edge becomes a power of two
  (the nearest one, never above the cap): phones mip-map and compress those best, and the
  Khronos 3D Commerce guidelines ask for them.
- Encoding: PNG only when the image's alpha is actually used (a base-colour texture of a MASK or
  BLEND material whose alpha is not all opaque); JPEG otherwise — several times smaller, and both
  Scene Viewer and Quick Look read it.
- Video memory: a phone decodes every texture to RGBA with mipmaps (a 2048 x 2048 texture takes
  21 MiB however small its JPEG), and heavy textures are what crash AR Quick Look (~200 MB seen as
  its limit). All of them together are held under `max_texture_memory_mib`: the largest is halved
  (never below MIN_FITTED_EDGE) until they fit, and the report says which (its input and output
  figures give the memory before and after, `texture_memory_mib`). 128 MiB by default: two full 2048 px PBR sets (base colour, normal, ORM). The
  USDZ uses the same images (its ORM read channel by channel, not split), so the figure holds
  for both AR files.
- The decoded size of all textures together is held under the per-job budget (a security limit:
  larger uploads are refused before anything is resized).
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from . import errors
from .errors import ConversionError
from .scene import Scene, Texture, video_memory
from .settings import MiB, Settings

MIN_FITTED_EDGE = 256  # px: the budget never halves a texture's shorter edge below this


def run(conv, settings: Settings) -> None:
    scene: Scene = conv.scene
    _prune_unused(scene)
    decoded = sum(t.image.width * t.image.height * 4 for t in scene.textures)
    if decoded > settings.limits.texture_bytes_per_job:
        raise ConversionError(
            errors.TEXTURE_TOO_LARGE,
            f"The textures decode to {decoded:,} bytes; at most {settings.limits.texture_bytes_per_job:,} per model.",
        )
    alpha_users = _textures_needing_alpha(scene)
    capped = [capped_size(t.image.size, settings.max_texture_size) for t in scene.textures]
    budget = settings.max_texture_memory_mib * MiB
    targets = fitted_sizes(capped, budget)
    sizes = []
    for index, (texture, target) in enumerate(zip(scene.textures, targets)):
        before = texture.image.size
        encode(texture, target, settings, keep_alpha=index in alpha_users)
        sizes.append({"name": texture.name, "before": list(before), "after": list(texture.image.size),
                      "mime_type": texture.mime_type, "bytes": len(texture.encoded)})
    memory = sum(video_memory(size) for size in targets)
    halved = sum(target != size for target, size in zip(targets, capped))
    if halved:
        conv.report.warn(
            f"{halved} texture(s) reduced to fit the texture memory budget: {memory / MiB:.0f} MiB decoded, "
            f"{sum(map(video_memory, capped)) / MiB:.0f} MiB at max_texture_size; a higher "
            f"max_texture_memory_mib ({settings.max_texture_memory_mib}) keeps them")
    conv.report.note(textures=sizes)


def fitted_sizes(sizes: list[tuple[int, int]], budget: int) -> list[tuple[int, int]]:
    """`sizes` with the largest halved, one at a time, until their video memory fits `budget`
    (ties: the first); an edge is never halved below MIN_FITTED_EDGE."""
    sizes = list(sizes)
    while sum(map(video_memory, sizes)) > budget:
        shrinkable = [i for i, size in enumerate(sizes) if min(size) >= 2 * MIN_FITTED_EDGE]
        if not shrinkable:
            break
        largest = max(shrinkable, key=lambda i: (video_memory(sizes[i]), -i))
        sizes[largest] = (sizes[largest][0] // 2, sizes[largest][1] // 2)
    return sizes


def encode(texture: Texture, target: tuple[int, int], settings: Settings, keep_alpha: bool) -> None:
    """Resize `texture` to `target` and encode it: PNG when its alpha is used, JPEG otherwise."""
    image = texture.image
    has_alpha = keep_alpha and texture.has_alpha and _alpha_is_used(image)
    image = image.convert("RGBA" if has_alpha else ("L" if image.mode in ("L", "I;16", "I") else "RGB"))
    if image.size != target:
        image = image.resize(target, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if has_alpha:
        image.save(buffer, format="PNG", optimize=True)
        texture.mime_type = "image/png"
    else:
        image.save(buffer, format="JPEG", quality=settings.jpeg_quality, optimize=True)
        texture.mime_type = "image/jpeg"
    texture.image = image
    texture.encoded = buffer.getvalue()


def capped_size(size: tuple[int, int], cap: int) -> tuple[int, int]:
    """Scaled so the longest edge fits `cap`, then each edge to its nearest power of two (<= cap)."""
    shrink = min(1.0, cap / max(size))
    pot = [min(cap, 2 ** max(0, round(math.log2(max(edge * shrink, 1))))) for edge in size]
    return pot[0], pot[1]


def _alpha_is_used(image: Image.Image) -> bool:
    alpha = np.asarray(image.convert("RGBA").getchannel("A"))
    return bool((alpha < 255).any())


def _textures_needing_alpha(scene: Scene) -> set[int]:
    return {m.base_color_texture for m in scene.materials
            if m.alpha_mode != "OPAQUE" and m.base_color_texture is not None}


def _prune_unused(scene: Scene) -> None:
    used_materials = sorted({p.material for mesh in scene.meshes for p in mesh.primitives})
    used_textures = sorted({t for i in used_materials for t in scene.materials[i].texture_slots().values()})
    texture_map = {old: new for new, old in enumerate(used_textures)}
    material_map = {old: new for new, old in enumerate(used_materials)}
    scene.textures = [scene.textures[i] for i in used_textures]
    materials = [scene.materials[i] for i in used_materials]
    for material in materials:
        for slot, old in material.texture_slots().items():
            setattr(material, _FIELD[slot], texture_map[old])
    scene.materials = materials
    for mesh in scene.meshes:
        for prim in mesh.primitives:
            prim.material = material_map[prim.material]


_FIELD = {
    "baseColorTexture": "base_color_texture",
    "metallicRoughnessTexture": "metallic_roughness_texture",
    "normalTexture": "normal_texture",
    "occlusionTexture": "occlusion_texture",
    "emissiveTexture": "emissive_texture",
}
