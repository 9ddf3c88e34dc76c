"""spec_gloss: a KHR_materials_pbrSpecularGlossiness material as glTF's metallic-roughness one.

The scene (and both output formats) know only metallic-roughness, so `load_gltf` converts the
archived specular-glossiness extension with the conversion Khronos published beside it (the
Babylon.js "convert between workflows" example): metalness is the root of the quadratic that
makes a dielectric (specular 0.04) and a metal agree on the perceived brightness of diffuse and
specular, the base colour blends the diffuse- and specular-derived colours by metalness²,
roughness is 1 - glossiness. Colours are converted in linear space (textures are sRGB).

Without textures the result is factors. With either texture it is per pixel, at the larger of
the two textures' sizes: a base-colour texture (sRGB, with the diffuse alpha) and a
metallic-roughness texture (G roughness, B metalness), with factors of one.

Design history: trimesh's glTF reader did this conversion for us until issue 3 replaced that
reader with our own (`load_gltf`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

DIELECTRIC_SPECULAR = 0.04
_EPSILON = 1e-6
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass
class MetallicRoughness:
    base_color_factor: tuple[float, float, float, float]
    metallic_factor: float
    roughness_factor: float
    base_color_texture: Image.Image | None = None
    metallic_roughness_texture: Image.Image | None = None


def convert(extension: dict, diffuse: Image.Image | None, specular_glossiness: Image.Image | None) -> MetallicRoughness:
    """The metallic-roughness equivalent of the extension's JSON and its two (decoded) textures."""
    diffuse_factor = _factor(extension.get("diffuseFactor", (1.0, 1.0, 1.0, 1.0)), 4)
    specular_factor = _factor(extension.get("specularFactor", (1.0, 1.0, 1.0)), 3)
    glossiness_factor = float(extension.get("glossinessFactor", 1.0))
    if diffuse is None and specular_glossiness is None:
        base, metallic = _base_and_metallic(diffuse_factor, specular_factor)
        return MetallicRoughness(tuple(float(c) for c in base), float(metallic), 1.0 - glossiness_factor)
    width, height = _common_size(diffuse, specular_glossiness)
    white = np.ones((height, width, 4))
    diffuse_rgba = diffuse_factor * (_linear(_pixels(diffuse, (width, height))) if diffuse is not None else white)
    specular_rgba = (_linear(_pixels(specular_glossiness, (width, height))) if specular_glossiness is not None
                     else white)
    base, metallic = _base_and_metallic(diffuse_rgba, specular_factor * specular_rgba[..., :3])
    roughness = 1.0 - glossiness_factor * specular_rgba[..., 3]
    metallic_roughness = np.stack([np.zeros_like(metallic), roughness, metallic], axis=-1)
    return MetallicRoughness((1.0, 1.0, 1.0, 1.0), 1.0, 1.0, _srgb_image(base), _image(metallic_roughness))


def _base_and_metallic(diffuse: np.ndarray, specular: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear RGBA base colour and metalness from linear diffuse RGBA and specular RGB (any
    leading shape: one colour or one per pixel)."""
    one_minus_specular = 1.0 - specular.max(axis=-1)
    metallic = _metallic(_brightness(diffuse[..., :3]), _brightness(specular), one_minus_specular)
    from_diffuse = diffuse[..., :3] * (one_minus_specular / (1.0 - DIELECTRIC_SPECULAR)
                                       / np.maximum(1.0 - metallic, _EPSILON))[..., None]
    from_specular = ((specular - DIELECTRIC_SPECULAR * (1.0 - metallic)[..., None])
                     / np.maximum(metallic, _EPSILON)[..., None])
    weight = (metallic * metallic)[..., None]
    rgb = np.clip(from_diffuse * (1.0 - weight) + from_specular * weight, 0.0, 1.0)
    return np.concatenate([rgb, diffuse[..., 3:4]], axis=-1), metallic


def _metallic(diffuse: np.ndarray, specular: np.ndarray, one_minus_specular: np.ndarray) -> np.ndarray:
    """Root of a·m² + b·m + c = 0, clamped to [0, 1]; zero where the specular is a dielectric's."""
    a = DIELECTRIC_SPECULAR
    b = diffuse * one_minus_specular / (1.0 - a) + specular - 2.0 * a
    c = a - specular
    root = (-b + np.sqrt(np.maximum(b * b - 4.0 * a * c, _EPSILON))) / (2.0 * a)
    return np.where(specular < a, 0.0, np.clip(root, 0.0, 1.0))


def _brightness(rgb: np.ndarray) -> np.ndarray:
    return np.sqrt((rgb * rgb) @ _LUMA)


def _factor(value, length: int) -> np.ndarray:
    factor = np.asarray(value, dtype=np.float64)
    if factor.shape != (length,):
        raise ValueError(f"a specular-glossiness factor is not {length} numbers")
    return factor


def _common_size(*images: Image.Image | None) -> tuple[int, int]:
    sizes = [image.size for image in images if image is not None]
    return max(w for w, _ in sizes), max(h for _, h in sizes)


def _pixels(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    rgba = image.convert("RGBA")
    if rgba.size != size:
        rgba = rgba.resize(size)
    return np.asarray(rgba, dtype=np.float64) / 255.0


def _linear(rgba: np.ndarray) -> np.ndarray:
    """sRGB-encoded colour channels to linear; alpha (glossiness) is linear already."""
    rgb = rgba[..., :3]
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return np.concatenate([linear, rgba[..., 3:]], axis=-1)


def _srgb_image(rgba: np.ndarray) -> Image.Image:
    rgb = rgba[..., :3]
    encoded = np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * np.power(rgb, 1 / 2.4) - 0.055)
    return _image(np.concatenate([encoded, rgba[..., 3:]], axis=-1))


def _image(values: np.ndarray) -> Image.Image:
    """An 8-bit RGB or RGBA image (by the last axis) from values in [0, 1]."""
    return Image.fromarray(np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8))
