"""load_gltf: glTF 2.0 (.gltf and .glb) read straight into our `Scene` with numpy.

`preflight` has already checked the document as the Khronos glTF-Validator would (every index
resolves, accessors fit their views, indices within their vertices, finite floats, images
decodable and under the pixel cap), so this reader turns checked JSON and buffers into the scene:
- accessors of every component type, strided or tight, sparse ones applied, `normalized` integers
  scaled to floats as glTF defines (quantised UVs and normals); sparse data escapes preflight's
  checks, so indices and floats are checked again here;
- triangles, triangle strips and triangle fans, indexed or not, become triangles with glTF's
  winding; points and lines are dropped with a warning;
- the default scene's node tree (else scene 0, else every root node) is flattened into instances
  with world matrices; one `Mesh` per glTF mesh, its primitives kept together, shared by every
  node that places it (instancing survives);
- materials keep what the exporters carry: factors, the five textures with their sampler's wrap
  modes, normal scale, occlusion strength, alpha mode and cutoff, double-sidedness, and the
  KHR_materials_* JSON (`Material.extensions`); KHR_materials_pbrSpecularGlossiness is converted
  to metallic-roughness (`spec_gloss`); a glTF material is one scene material per UV presence
  (without UVs its textures are dropped, with a warning);
- KHR_texture_transform is baked into the UVs, so the GLB and the USDZ both show it without any
  extension (Scene Viewer, Quick Look and USD converters disagree on how to apply it). One UV set
  per primitive carries one transform per material: the base colour's (what a shopper sees), else
  the first textured slot's; a slot whose transform differs, or that reads a second UV set, is
  reported;
- images come from buffer views, `data:` URIs or (for .gltf) files through the upload's
  `SafeResolver`, and are decoded once, under the rules of the image gate (`check_image_header`),
  which preflight has already applied to each.
UVs stay in glTF's convention (v down), which is the scene's; normals are kept when present.

Design history: until issue 3 glTF went through trimesh, with `gltf_details` putting back what
trimesh's reader dropped (texture transforms, wrap modes, texCoord sets, material extensions; it
renamed materials to tokens to find them again). Importing trimesh cost ~1.5 s of every GLB
conversion while the parse itself took 0.03-0.15 s, and trimesh also ignored `normalized`, sparse
accessors and triangle fans, and rounded colour factors to 8 bits; this reader replaced both.
"""
from __future__ import annotations

import copy
import io
import math
import warnings
from typing import Iterator

import numpy as np
from PIL import Image

from . import errors, spec_gloss
from .errors import ConversionError
from .ingest import Upload
from .load import DEFAULT_MATERIAL, SafeResolver
from .preflight import (ALLOWED_IMAGE_FORMATS, COMPONENT_DTYPES, TYPE_COMPONENTS, GltfDocument, check_image_header,
                        data_uri, element_bytes, read_gltf_json)
from .report import Report
from .scene import Instance, Material, Mesh, Primitive, Scene, Texture
from .settings import Limits

TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN = 4, 5, 6
_WRAP = {10497: "repeat", 33071: "clamp", 33648: "mirror"}
# Scene slot → (the Material field, where a glTF material keeps its textureInfo, the short name
# texture names and warnings use).
_SLOTS = {
    "baseColorTexture": ("base_color_texture", "pbrMetallicRoughness", "baseColor"),
    "metallicRoughnessTexture": ("metallic_roughness_texture", "pbrMetallicRoughness", "metallicRoughness"),
    "normalTexture": ("normal_texture", None, "normal"),
    "occlusionTexture": ("occlusion_texture", None, "occlusion"),
    "emissiveTexture": ("emissive_texture", None, "emissive"),
}
SPEC_GLOSS = "KHR_materials_pbrSpecularGlossiness"
# What a glTF may hold that the scene has no place for (a product is shown still).
_NOT_KEPT = ("animations", "skins")


def load(upload: Upload, resolver: SafeResolver, limits: Limits, report: Report) -> Scene:
    """The glTF or GLB upload as a Scene; what it carries that the scene cannot is reported."""
    document = upload.gltf_document or _read(upload, limits)
    gltf = document.gltf
    try:
        _report_losses(gltf, report)
        return _Reader(gltf, document.buffers, resolver, limits, report).read()
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        # preflight checks the structure, not every value (a factor that is a string, a sparse
        # index past its accessor): such a file is as unreadable as one that does not parse
        raise ConversionError(errors.CORRUPT_FILE,
                              f"The {upload.format.upper()} file cannot be parsed ({type(exc).__name__}).") from None


def _read(upload: Upload, limits: Limits) -> GltfDocument:
    """The document read here, for a caller that ran no pre-flight: buffers fetched and sized as
    preflight does."""
    document = GltfDocument(*read_gltf_json(upload.root, limits), upload, limits)
    document.load_buffers()
    return document


def _report_losses(gltf: dict, report: Report) -> None:
    """What the glTF carries that the scene will not (the pre-flight refused what it must)."""
    for feature in _NOT_KEPT:
        if gltf.get(feature):
            report.warn(f"glTF {feature} dropped: the product is shown in its rest pose")
    for index, mesh in enumerate(gltf.get("meshes") or []):
        name = mesh.get("name") or f"mesh {index}"
        primitives = [p for p in mesh.get("primitives") or [] if isinstance(p, dict)]
        if any(p.get("targets") for p in primitives):
            report.warn(f"glTF morph targets of '{name}' dropped: it is shown in its base shape")
        if any("COLOR_0" in p.get("attributes", {}) for p in primitives):
            report.warn(f"Vertex colours of '{name}' dropped (only material colours are carried)")


class _Reader:
    """One glTF document into one Scene; meshes, materials and images are read once each."""

    def __init__(self, gltf: dict, buffers: list[bytes], resolver: SafeResolver, limits: Limits, report: Report):
        self.gltf, self.buffers, self.resolver, self.limits, self.report = gltf, buffers, resolver, limits, report
        self.scene = Scene()
        self._meshes: dict[int, int | None] = {}  # glTF mesh → scene mesh (None: nothing to draw)
        # (glTF material or None for the default, has UVs) → scene material, UV transform to bake
        self._materials: dict[tuple[int | None, bool], tuple[int, np.ndarray | None]] = {}
        self._images: dict[int, Image.Image | None] = {}  # glTF image → decoded (None: not in the upload)
        self._textures: dict[int, int] = {}  # id of a decoded image → scene texture

    def read(self) -> Scene:
        for node, matrix in self._placements():
            if node.get("mesh") is None:
                continue
            mesh = self._mesh(node["mesh"])
            if mesh is not None:
                name = str(node.get("name") or self.scene.meshes[mesh].name)
                self.scene.instances.append(Instance(name, mesh, matrix))
        return self.scene

    # -- nodes

    def _placements(self) -> Iterator[tuple[dict, np.ndarray]]:
        """Every node of the scene shown with its world matrix, depth first in document order."""
        nodes = self.gltf.get("nodes") or []
        stack = [(root, np.eye(4)) for root in reversed(self._roots(nodes))]
        seen = set()
        while stack:
            index, parent = stack.pop()
            if index in seen:  # a loop or a second parent: preflight refuses both, a reader must not hang
                continue
            seen.add(index)
            node = nodes[index]
            world = parent @ _local_matrix(node)
            if not np.isfinite(world).all():
                raise ConversionError(errors.CORRUPT_FILE,
                                      f"Node '{node.get('name', index)}' has a transform that overflows.")
            yield node, world
            stack.extend((child, world) for child in reversed(node.get("children") or []))

    def _roots(self, nodes: list[dict]) -> list[int]:
        scenes = self.gltf.get("scenes") or []
        if scenes:
            return scenes[self.gltf.get("scene") or 0].get("nodes") or []
        children = {child for node in nodes for child in node.get("children") or []}
        return [index for index in range(len(nodes)) if index not in children]

    # -- meshes

    def _mesh(self, index: int) -> int | None:
        if index not in self._meshes:
            spec = self.gltf["meshes"][index]
            name = str(spec.get("name") or f"mesh {index}")
            primitives = [p for p in (self._primitive(p, name) for p in spec["primitives"]) if p is not None]
            self._meshes[index] = len(self.scene.meshes) if primitives else None
            if primitives:
                self.scene.meshes.append(Mesh(name, primitives))
        return self._meshes[index]

    def _primitive(self, spec: dict, name: str) -> Primitive | None:
        mode = spec.get("mode", TRIANGLES)
        attributes = spec["attributes"]
        if mode not in (TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN):
            self.report.warn(f"'{name}' is not a triangle mesh (points or lines): dropped")
            return None
        if "POSITION" not in attributes:
            raise ConversionError(errors.CORRUPT_FILE, f"Mesh '{name}' has a primitive without positions.")
        positions = self._floats(attributes["POSITION"], name)
        faces = self._faces(spec, mode, len(positions), name)
        if len(faces) == 0:
            self.report.warn(f"'{name}' is not a triangle mesh (points or lines): dropped")
            return None
        normals = self._attribute(attributes, "NORMAL", 3, len(positions), name)
        uvs = None
        if spec.get("material") is not None:  # the default material has no textures to map
            uvs = self._attribute(attributes, "TEXCOORD_0", 2, len(positions), name)
        material, uv_matrix = self._material(spec.get("material"), uvs is not None)
        if uv_matrix is not None:
            uvs = (uvs.astype(np.float64) @ uv_matrix[:2, :2].T + uv_matrix[:2, 2]).astype(np.float32)
        return Primitive(positions, faces, material, normals=normals, uvs=uvs)

    def _faces(self, spec: dict, mode: int, vertices: int, name: str) -> np.ndarray:
        """(n, 3) uint32 vertex indices of the triangles the primitive draws."""
        if spec.get("indices") is None:
            indices = np.arange(vertices, dtype=np.uint32)  # drawn in order (WebGL's drawArrays)
        else:
            indices = self._accessor(spec["indices"]).reshape(-1).astype(np.uint32)
        if indices.size and int(indices.max()) >= vertices:
            raise ConversionError(errors.CORRUPT_FILE, f"Mesh '{name}' has face indices outside its vertex list.")
        if mode == TRIANGLES:
            if len(indices) % 3:
                raise ConversionError(errors.CORRUPT_FILE,
                                      f"Mesh '{name}' has {len(indices):,} triangle corners, not a multiple of three.")
            return indices.reshape(-1, 3)
        return indices[_corners(mode, len(indices))]

    def _attribute(self, attributes: dict, key: str, width: int, vertices: int, name: str) -> np.ndarray | None:
        """A float vertex attribute, or None when absent or not one `width`-vector per vertex
        (the validator's MESH_PRIMITIVE_UNEQUAL_ACCESSOR_COUNT: reported, not guessed at)."""
        if key not in attributes:
            return None
        values = self._floats(attributes[key], name)
        if values.shape != (vertices, width):
            self.report.warn(f"'{name}': {key} does not hold one value per vertex; it was dropped")
            return None
        return values

    def _floats(self, accessor: int, name: str) -> np.ndarray:
        values = self._accessor(accessor).astype(np.float32)
        if not np.isfinite(values).all():
            raise ConversionError(errors.CORRUPT_FILE, f"Mesh '{name}' has NaN or infinite coordinates.")
        return values

    # -- accessors

    def _accessor(self, index: int) -> np.ndarray:
        """An accessor's elements as rows: sparse values applied, normalized integers as floats."""
        accessor = self.gltf["accessors"][index]
        width = TYPE_COMPONENTS[accessor["type"]]
        dtype = np.dtype(COMPONENT_DTYPES[accessor["componentType"]])
        element = element_bytes(accessor["componentType"], accessor["type"])
        if accessor.get("bufferView") is None:
            values = np.zeros((accessor["count"], width), dtype)  # all zeros but for sparse ones
        else:
            values = self._elements(accessor["bufferView"], accessor.get("byteOffset", 0), accessor["count"],
                                    width, dtype, element)
        sparse = accessor.get("sparse")
        if sparse:
            values = np.array(values)  # the elements read so far are views of the file's bytes
            indices, overrides = sparse["indices"], sparse["values"]
            index_type = np.dtype(COMPONENT_DTYPES[indices["componentType"]])
            rows = self._elements(indices["bufferView"], indices.get("byteOffset", 0), sparse["count"], 1,
                                  index_type, index_type.itemsize)[:, 0]
            values[rows] = self._elements(overrides["bufferView"], overrides.get("byteOffset", 0), sparse["count"],
                                          width, dtype, element)
        if accessor.get("normalized") and dtype.kind in "iu":
            # glTF 3.11: c / max for unsigned, max(c / max, -1) for signed components
            values = np.maximum(values / float(np.iinfo(dtype).max), -1.0)
        return values

    def _elements(self, view_index: int, offset: int, count: int, width: int, dtype: np.dtype,
                  element: int) -> np.ndarray:
        """`count` rows of `width` components from a buffer view, honouring its byteStride
        (numpy refuses, with a TypeError, rows that would run past the buffer)."""
        view = self.gltf["bufferViews"][view_index]
        return np.ndarray((count, width), dtype, buffer=self.buffers[view["buffer"]],
                          offset=view.get("byteOffset", 0) + offset,
                          strides=(view.get("byteStride") or element, dtype.itemsize))

    # -- materials

    def _material(self, index: int | None, has_uvs: bool) -> tuple[int, np.ndarray | None]:
        """The scene material of glTF material `index` (None: the default) used with or without
        UVs, and the UV transform to bake into its primitives (None: identity)."""
        key = (index, has_uvs)
        if key not in self._materials:
            if index is None:
                material, uv_matrix = copy.deepcopy(DEFAULT_MATERIAL), None
            else:
                material, uv_matrix = self._read_material(self.gltf["materials"][index], has_uvs)
            self._materials[key] = (len(self.scene.materials), uv_matrix)
            self.scene.materials.append(material)
        return self._materials[key]

    def _read_material(self, spec: dict, has_uvs: bool) -> tuple[Material, np.ndarray | None]:
        pbr = spec.get("pbrMetallicRoughness") or {}
        extensions = spec.get("extensions") or {}
        infos = _texture_infos(spec)
        material = Material(
            name=str(spec.get("name") or "material"),
            base_color_factor=_color(pbr.get("baseColorFactor", (1.0, 1.0, 1.0, 1.0)), 4),
            metallic_factor=float(pbr.get("metallicFactor", 1.0)),
            roughness_factor=float(pbr.get("roughnessFactor", 1.0)),
            normal_scale=float(infos.get("normalTexture", {}).get("scale", 1.0)),
            occlusion_strength=float(infos.get("occlusionTexture", {}).get("strength", 1.0)),
            emissive_factor=_color(spec.get("emissiveFactor", (0.0, 0.0, 0.0)), 3, upper=math.inf),
            alpha_mode=_alpha_mode(spec.get("alphaMode", "OPAQUE")),
            alpha_cutoff=float(spec.get("alphaCutoff", 0.5)),
            double_sided=bool(spec.get("doubleSided", False)),
            extensions={k: v for k, v in extensions.items()
                        if k.startswith("KHR_materials_") and k != SPEC_GLOSS and isinstance(v, dict)},
        )
        # Texture names as trimesh's reader gave them: they name the image files in the outputs.
        texture_name = str(spec.get("name") or "texture")
        images = {slot: self._image(info) for slot, info in infos.items()}
        if isinstance(extensions.get(SPEC_GLOSS), dict):
            self._convert_spec_gloss(material, extensions[SPEC_GLOSS], infos, images)
        for slot, image in images.items():
            field, _, short = _SLOTS[slot]
            setattr(material, field, self._texture(image, texture_name, material.name, short, has_uvs))
        material.texture_wrap = self._wraps(material, infos)
        return material, _uv_transform(material, infos, self.report)

    def _convert_spec_gloss(self, material: Material, extension: dict, infos: dict[str, dict],
                            images: dict[str, Image.Image | None]) -> None:
        """Metallic-roughness from the specular-glossiness extension, which replaces the core
        model where it is supported: its factors on `material`, its textures in `images` as base
        colour and metallic-roughness, mapped (`infos`) like the extension's own textures."""
        sources = [extension.get(key) for key in ("diffuseTexture", "specularGlossinessTexture")]
        sources = [info if isinstance(info, dict) and info.get("index") is not None else None for info in sources]
        converted = spec_gloss.convert(extension, *(None if info is None else self._image(info) for info in sources))
        material.base_color_factor = converted.base_color_factor
        material.metallic_factor = converted.metallic_factor
        material.roughness_factor = converted.roughness_factor
        mapped_like = next((info for info in sources if info is not None), None)
        for slot, image in (("baseColorTexture", converted.base_color_texture),
                            ("metallicRoughnessTexture", converted.metallic_roughness_texture)):
            images[slot] = image
            if image is not None:
                infos[slot] = mapped_like

    def _wraps(self, material: Material, infos: dict[str, dict]) -> dict[str, tuple[str, str]]:
        wraps = {}
        for slot in material.texture_slots():
            texture = self.gltf["textures"][infos[slot]["index"]]
            sampler = self.gltf["samplers"][texture["sampler"]] if texture.get("sampler") is not None else {}
            wrap = (_WRAP.get(sampler.get("wrapS"), "repeat"), _WRAP.get(sampler.get("wrapT"), "repeat"))
            if wrap != ("repeat", "repeat"):
                wraps[slot] = wrap
        return wraps

    # -- textures and images

    def _image(self, info: dict) -> Image.Image | None:
        """The decoded image a textureInfo shows (EXT_texture_webp's when it names one), once per
        glTF image; None when it has none or its file is not in the upload."""
        texture = self.gltf["textures"][info["index"]]
        webp = (texture.get("extensions") or {}).get("EXT_texture_webp") or {}
        index = webp.get("source", texture.get("source"))
        if index is None:
            return None
        if index not in self._images:
            self._images[index] = self._read_image(index)
        return self._images[index]

    def _texture(self, image: Image.Image | None, texture_name: str, material: str, short: str,
                 has_uvs: bool) -> int | None:
        """The scene texture of an image, one per image; None when there is no image or no UVs
        to map it with (reported)."""
        if image is None:
            return None
        if not has_uvs:
            self.report.warn(f"Material '{material}': {short} texture dropped (the mesh has no UVs)")
            return None
        if id(image) not in self._textures:
            self._textures[id(image)] = len(self.scene.textures)
            self.scene.textures.append(Texture(name=f"{texture_name}_{short}", image=image))
        return self._textures[id(image)]

    def _read_image(self, index: int) -> Image.Image | None:
        """A glTF image decoded, after the image gate; None when its file is not in the upload
        (the resolver recorded it: `load.run` warns, or fails the job for a refused one)."""
        spec = self.gltf["images"][index]
        name, uri = str(spec.get("name") or f"image {index}"), spec.get("uri")
        if spec.get("bufferView") is not None:
            view = self.gltf["bufferViews"][spec["bufferView"]]
            start = view.get("byteOffset", 0)
            data = self.buffers[view["buffer"]][start:start + view["byteLength"]]
        elif isinstance(uri, str) and uri.startswith("data:"):
            data = data_uri(uri, f"images[{index}]")
        elif isinstance(uri, str):
            try:
                data, name = self.resolver.get(uri), uri
            except FileNotFoundError:
                return None
        else:
            return None
        return _decode(data, name, self.limits)


def _decode(data: bytes, name: str, limits: Limits) -> Image.Image:
    """An image decoded once under the image gate's rules (PNG/JPEG/WebP only, the pixel cap
    checked from the header, decompression-bomb warnings as errors); one the gate refuses fails
    with the gate's own code and message (`check_image_header`)."""
    Image.MAX_IMAGE_PIXELS = limits.texture_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_IMAGE_FORMATS))
            image.load()
    except Exception:  # Pillow raises many types for a refused or corrupt stream
        check_image_header(data, name, limits)
        raise
    return image


def _texture_infos(spec: dict) -> dict[str, dict]:
    """The material's textureInfo objects, by scene slot."""
    infos = {}
    for slot, (_, parent, _) in _SLOTS.items():
        holder = (spec.get(parent) or {}) if parent else spec
        info = holder.get(slot)
        if isinstance(info, dict) and info.get("index") is not None:
            infos[slot] = info
    return infos


def _local_matrix(node: dict) -> np.ndarray:
    """The node's matrix (column-major in the file) times its translation · rotation · scale:
    glTF gives one or the other, and a missing one is the identity."""
    matrix = np.array(node.get("matrix", np.eye(4).ravel()), dtype=np.float64).reshape(4, 4).T
    translation = np.eye(4)
    translation[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    rotation = np.eye(4)
    rotation[:3, :3] = _rotation(node.get("rotation", (0.0, 0.0, 0.0, 1.0)))
    scale = np.diag([*node.get("scale", (1.0, 1.0, 1.0)), 1.0])
    return matrix @ translation @ rotation @ scale


def _rotation(quaternion) -> np.ndarray:
    """The 3x3 rotation of a unit quaternion (x, y, z, w), normalised first (exporters round)."""
    x, y, z, w = (float(c) for c in quaternion)
    norm = x * x + y * y + z * z + w * w
    if norm < 1e-12:
        return np.eye(3)
    s = 2.0 / norm
    return np.array([
        [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
        [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
        [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)],
    ])


def _corners(mode: int, count: int) -> np.ndarray:
    """(n, 3) positions in the index list of the triangles a strip or fan of `count` indices
    draws, with glTF's winding (3.7.2.1): a strip alternates its order, a fan turns around the first."""
    first = np.arange(max(count - 2, 0))
    if mode == TRIANGLE_STRIP:
        odd = first % 2
        return np.stack([first, first + 1 + odd, first + 2 - odd], axis=1)
    return np.stack([first + 1, first + 2, np.zeros_like(first)], axis=1)


def _color(value, length: int, upper: float = 1.0) -> tuple[float, ...]:
    """A colour factor of `length` numbers, clamped to glTF's range."""
    values = [float(c) for c in value]
    if len(values) != length:
        raise ValueError(f"a colour factor is not {length} numbers")
    return tuple(min(max(c, 0.0), upper) for c in values)


def _alpha_mode(value) -> str:
    mode = str(value).upper()
    if mode not in ("OPAQUE", "MASK", "BLEND"):
        raise ValueError(f"alphaMode {mode[:20]!r}")
    return mode


def _uv_transform(material: Material, infos: dict[str, dict], report: Report) -> np.ndarray | None:
    """The 3x3 matrix to bake into this material's UVs (None: identity), reporting slots that
    cannot share it or read a second UV set."""
    slots = list(material.texture_slots())
    transforms = {}
    for slot in slots:
        info = infos[slot]
        extension = (info.get("extensions") or {}).get("KHR_texture_transform")
        extension = extension if isinstance(extension, dict) else {}
        uv_set = extension.get("texCoord", info.get("texCoord", 0))
        if uv_set != 0:
            uv_set = uv_set if isinstance(uv_set, int) else "?"
            report.warn(f"glTF: {slot} of material '{material.name}' reads UV set {uv_set}; only the "
                        "first UV set is carried, so it is mapped with that one")
        transforms[slot] = _transform_matrix(extension, material.name)
    if not transforms:
        return None
    chosen = "baseColorTexture" if "baseColorTexture" in transforms else slots[0]
    for slot, matrix in transforms.items():
        if not np.allclose(matrix, transforms[chosen], atol=1e-7):
            report.warn(f"glTF KHR_texture_transform: {slot} of material '{material.name}' differs from "
                        f"its {chosen}'s; one UV set carries only one, so it is mapped with {chosen}'s")
    return None if np.allclose(transforms[chosen], np.eye(3)) else transforms[chosen]


def _transform_matrix(extension: dict, material: str) -> np.ndarray:
    """KHR_texture_transform as the spec writes it: translation · rotation · scale."""
    try:
        ox, oy = (float(v) for v in extension.get("offset", (0.0, 0.0)))
        sx, sy = (float(v) for v in extension.get("scale", (1.0, 1.0)))
        r = float(extension.get("rotation", 0.0))
    except (TypeError, ValueError):
        raise ConversionError(errors.CORRUPT_FILE,
                              f"A KHR_texture_transform of material '{material}' is malformed.") from None
    if not all(math.isfinite(x) for x in (ox, oy, sx, sy, r)):
        raise ConversionError(errors.CORRUPT_FILE, f"A KHR_texture_transform of material '{material}' is not finite.")
    translation = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]])
    rotation = np.array([[math.cos(r), math.sin(r), 0], [-math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return translation @ rotation @ np.diag([sx, sy, 1.0])
