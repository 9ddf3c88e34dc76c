"""preflight: cheap structural checks on the upload, before any third-party parser sees a byte.

The readers behind `load` (trimesh, pycollada, usd-core, ufbx) are forgiving or native: given a
file that lies about its sizes they allocate what it says, index past what it holds, or follow
the paths it names. So each format is first read here, with the standard library, numpy and
Pillow's header reader only, and refused with a clear code when it is malformed, over a limit or
reaches outside the upload:

- glTF/GLB: the container's lengths, then the document as the Khronos glTF-Validator sees it —
  every index resolves, buffer views fit their buffers and accessors their views, offsets are
  aligned, no node loops, no node with two parents, no absurd depth or object counts, only
  extensions we decode are required, `data:` URIs parsed strictly — then the data the mesh is
  built from (indices in range, no NaN/Inf). Messages carry the validator's issue code
  (ACCESSOR_TOO_LONG, NODE_LOOP, ...) so a supplier can look it up in their own tools.
- every image the model names or embeds: only PNG/JPEG/WebP, pixel count from the header under
  the cap before decoding, decompression-bomb warnings are errors, and it must decode (a texture
  that fails later would leave a silent untextured model).
- OBJ: faces, corners and vertex indices counted on the raw text; `mtllib` through the resolver.
- PLY: the header (bounded), its counts against the limit and against the bytes present.
- STL: the binary count against the size; an ASCII file against the triangle limit.
- COLLADA: no DOCTYPE, no deep nesting (`load_collada.precheck`); USD: every layer and asset path
  inside the upload (`load_usd.check_asset_paths`), both before anything is composed or parsed.

It is its own pipeline step, and imports nothing heavy: a file refused here costs its job
milliseconds, and the 3D libraries are not even imported for it.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import re
import struct
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from . import errors
from .errors import ConversionError
from .ingest import Upload, resolve_reference
from .report import Report
from .settings import Limits, Settings

ALLOWED_IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tga", ".tif", ".tiff", ".dds", ".ktx",
                  ".ktx2", ".exr", ".hdr", ".psd", ".ico", ".pcx", ".ppm", ".pgm", ".sgi", ".jp2")
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"DDS ",
                b"\xabKTX", b"8BPS", b"\x76\x2f\x31\x01")
# glTF extensions that may be required: what `load` decodes or carries (KHR_materials_* as JSON).
_DECODED_EXTENSIONS = ("KHR_texture_transform", "KHR_materials_")
_UNDECODED = {
    "KHR_materials_variants": "material variants cannot be kept",
    "KHR_draco_mesh_compression": "Draco-compressed meshes cannot be read",
    "EXT_meshopt_compression": "meshopt-compressed data cannot be read",
    "KHR_texture_basisu": "KTX2 textures cannot be read",
}
MAX_NODE_DEPTH = 256
PLY_HEADER_BYTES = 64 * 1024
_JSON_CHUNK, _BIN_CHUNK = 0x4E4F534A, 0x004E4942
_COMPONENT_BYTES = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
COMPONENT_DTYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
TYPE_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_INDEX_TYPES = (5121, 5123, 5125)
# Arrays of the glTF document whose items count against `Limits.scene_objects`.
_COUNTED = ("accessors", "animations", "bufferViews", "buffers", "cameras", "images", "materials", "meshes", "nodes",
            "samplers", "scenes", "skins", "textures")


def run(conv, settings: Settings) -> None:
    check(conv.upload, settings.limits, conv.report)


def check(upload: Upload, limits: Limits, report: Report) -> None:
    """Refuse the upload (ConversionError) if it is malformed, over a limit or reaches outside."""
    checker = CHECKS.get(upload.format)
    if checker is not None:
        checker(upload, limits, report)


# --- images ---------------------------------------------------------------------------------------

def looks_like_image(data: bytes, name: str = "") -> bool:
    """Whether a referenced file is (or is meant as) an image: by its magic bytes or its name."""
    return data.startswith(_IMAGE_MAGIC) or name.lower().rsplit("?", 1)[0].endswith(IMAGE_SUFFIXES)


def check_image_header(data: bytes, name: str, limits: Limits) -> None:
    """Refuse an image unless it is PNG/JPEG/WebP, under the pixel cap (read from its header,
    before decoding) and decodes; Pillow's decompression-bomb warning is an error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(ALLOWED_IMAGE_FORMATS)) as probe:
                width, height = probe.size
                if width * height > limits.texture_pixels:
                    raise ConversionError(
                        errors.TEXTURE_TOO_LARGE,
                        f"Texture '{_shown(name)}' is {width} x {height} pixels; at most {limits.texture_pixels:,} "
                        "pixels are accepted.",
                    )
                probe.load()
    except ConversionError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ConversionError(errors.TEXTURE_TOO_LARGE, f"Texture '{_shown(name)}' has more pixels than we accept.")
    except Image.UnidentifiedImageError:
        raise ConversionError(errors.TEXTURE_UNSUPPORTED,
                              f"Texture '{_shown(name)}' is not a PNG, JPEG or WebP image; convert it to PNG or JPEG.")
    except Exception:  # Pillow's decoders raise many types for a corrupt stream
        raise ConversionError(errors.TEXTURE_UNSUPPORTED, f"Texture '{_shown(name)}' is truncated or corrupt.")


# --- glTF / GLB -----------------------------------------------------------------------------------

def read_gltf_json(root: Path, limits: Limits) -> tuple[dict, bytes | None]:
    """The JSON of a .gltf or .glb (and the GLB's binary chunk), with the container checked first."""
    data = root.read_bytes()
    binary = None
    if data[:4] == b"glTF":
        text, binary = _glb_chunks(data)
    else:
        text = data
    if len(text) > limits.gltf_json_bytes:
        raise ConversionError(errors.INPUT_TOO_LARGE, f"The glTF JSON is larger than {limits.gltf_json_bytes:,} bytes.")
    try:
        gltf = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid("INVALID_JSON", "the JSON cannot be parsed (or nests too deep)")
    if not isinstance(gltf, dict):
        raise _invalid("INVALID_JSON", "the JSON is not an object")
    return gltf, binary


def _glb_chunks(data: bytes) -> tuple[bytes, bytes | None]:
    if len(data) < 20:
        raise _invalid("GLB_UNEXPECTED_END_OF_HEADER", "the GLB is shorter than its header", "GLB")
    _, version, length = struct.unpack_from("<4sII", data)
    if version != 2:
        raise ConversionError(errors.UNSUPPORTED_FORMAT, f"GLB version {version} is not supported; export glTF 2.0.")
    if length != len(data):
        raise _invalid("GLB_LENGTH_MISMATCH", f"the header says {length:,} bytes, the file has {len(data):,}", "GLB")
    json_length, json_type = struct.unpack_from("<II", data, 12)
    if json_type != _JSON_CHUNK:
        raise _invalid("GLB_UNEXPECTED_FIRST_CHUNK", "the first chunk is not JSON", "GLB")
    if 20 + json_length > len(data):
        raise _invalid("GLB_CHUNK_TOO_BIG", "the JSON chunk runs past the end of the file", "GLB")
    rest = 20 + json_length
    binary = None
    if rest + 8 <= len(data):
        bin_length, bin_type = struct.unpack_from("<II", data, rest)
        if rest + 8 + bin_length > len(data):
            raise _invalid("GLB_CHUNK_TOO_BIG", "the binary chunk runs past the end of the file", "GLB")
        if bin_type == _BIN_CHUNK:
            binary = data[rest + 8:rest + 8 + bin_length]
    elif rest != len(data):
        raise _invalid("GLB_UNEXPECTED_END_OF_CHUNK_HEADER", "the file ends inside a chunk header", "GLB")
    return data[20:rest], binary


def check_gltf(upload: Upload, limits: Limits, report: Report) -> None:
    gltf, binary = read_gltf_json(upload.root, limits)
    doc = GltfDocument(gltf, binary, upload, limits)
    doc.check()
    upload.gltf_document = doc
    for name in doc.list_of("extensionsUsed"):
        if isinstance(name, str) and name in _UNDECODED:
            report.warn(f"glTF {name}: {_UNDECODED[name]}")


class GltfDocument:
    """One glTF document under check; each method raises ConversionError with a validator code."""

    def __init__(self, gltf: dict, binary: bytes | None, upload: Upload, limits: Limits):
        self.gltf, self.binary, self.upload, self.limits = gltf, binary, upload, limits
        self.buffers: list[bytes] = []

    def check(self) -> None:
        self._asset()
        self._extensions()
        self._counts()
        self.load_buffers()
        self._buffer_views()
        self._accessors()
        self._meshes()
        self._nodes_and_scenes()
        self._materials_and_textures()
        self._mesh_data()
        self._images()

    # -- helpers: every value may be any JSON type

    def list_of(self, key: str, holder=None) -> list:
        holder = self.gltf if holder is None else holder
        value = holder.get(key, []) if isinstance(holder, dict) else []
        if not isinstance(value, list):
            raise _invalid("TYPE_MISMATCH", f"'{_shown(key)}' is not an array")
        return value

    def objects(self, key: str) -> list[dict]:
        items = self.list_of(key)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise _invalid("TYPE_MISMATCH", f"{key}[{i}] is not an object")
        return items

    def index(self, value, key: str, where: str, required: bool = True) -> int | None:
        if value is None and not required:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _invalid("INVALID_INDEX", f"{where} is not a valid index")
        if value >= len(self.list_of(key)):
            raise _invalid("UNRESOLVED_REFERENCE", f"{where} refers to {key}[{value}], which does not exist")
        return value

    @staticmethod
    def integer(obj: dict, key: str, where: str, default: int | None = None, minimum: int = 0) -> int:
        value = obj.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid("TYPE_MISMATCH" if key in obj else "UNDEFINED_PROPERTY", f"{where}.{key} is not an integer")
        if value < minimum:
            raise _invalid("VALUE_NOT_IN_RANGE", f"{where}.{key} is {value}, below {minimum}")
        return value

    # -- the checks, in the order a reader needs them

    def _asset(self) -> None:
        asset = self.gltf.get("asset")
        version = str(asset.get("version", "")) if isinstance(asset, dict) else ""
        if not version.startswith("2."):
            raise ConversionError(errors.UNSUPPORTED_FORMAT,
                                  f"glTF {_shown(version) or '(no version)'} is not supported; export glTF 2.0.")

    def _extensions(self) -> None:
        for name in self.list_of("extensionsRequired"):
            name = str(name)
            if name in _UNDECODED:
                raise ConversionError(errors.UNSUPPORTED_FORMAT,
                                      f"The file requires {name}: {_UNDECODED[name]}; export it without it.")
            if not name.startswith(_DECODED_EXTENSIONS):
                raise ConversionError(errors.UNSUPPORTED_FORMAT,
                                      f"The file requires the glTF extension '{_shown(name)}', which we cannot read; "
                                      "export it without that extension.")

    def _counts(self) -> None:
        total = sum(len(self.list_of(key)) for key in _COUNTED)
        total += sum(len(self.list_of("primitives", mesh)) for mesh in self.list_of("meshes"))
        if total > self.limits.scene_objects:
            raise ConversionError(errors.INPUT_TOO_LARGE,
                                  f"The glTF holds {total:,} objects (nodes, meshes, accessors...); at most "
                                  f"{self.limits.scene_objects:,} are accepted.")

    def load_buffers(self) -> None:
        for i, buffer in enumerate(self.objects("buffers")):
            declared = self.integer(buffer, "byteLength", f"buffers[{i}]", minimum=1)
            uri = buffer.get("uri")
            if uri is None:
                if i != 0 or self.binary is None:
                    raise _invalid("BUFFER_MISSING_GLB_DATA", f"buffers[{i}] has no uri and no GLB binary chunk")
                data = self.binary
            elif isinstance(uri, str) and uri.startswith("data:"):
                data = data_uri(uri, f"buffers[{i}]", ("application/octet-stream", "application/gltf-buffer"))
                if len(data) != declared:
                    raise _invalid("BUFFER_EMBEDDED_BYTELENGTH_MISMATCH",
                                   f"buffers[{i}] holds {len(data):,} bytes but declares {declared:,}")
            else:
                data = self._external(uri, f"buffers[{i}]").read_bytes()
            if len(data) < declared:
                raise _invalid("BUFFER_EXTERNAL_BYTELENGTH_MISMATCH",
                               f"buffers[{i}] holds {len(data):,} bytes, less than its byteLength {declared:,}")
            self.buffers.append(data)

    def _external(self, uri, where: str) -> Path:
        if not isinstance(uri, str):
            raise _invalid("TYPE_MISMATCH", f"{where}.uri is not a string")
        return resolve_reference(self.upload.directory, self.upload.root.parent, uri)

    def _buffer_views(self) -> None:
        for i, view in enumerate(self.objects("bufferViews")):
            where = f"bufferViews[{i}]"
            buffer = self.index(view.get("buffer"), "buffers", f"{where}.buffer")
            offset = self.integer(view, "byteOffset", where, default=0)
            length = self.integer(view, "byteLength", where, minimum=1)
            if "byteStride" in view:
                stride = self.integer(view, "byteStride", where, minimum=4)
                if stride > 252 or stride % 4:
                    raise _invalid("VALUE_NOT_IN_RANGE", f"{where}.byteStride {stride} is not a multiple of 4 in 4..252")
            declared = self.gltf["buffers"][buffer]["byteLength"]
            if offset + length > declared:
                raise _invalid("BUFFER_VIEW_TOO_LONG",
                               f"{where} (offset {offset:,}, length {length:,}) does not fit buffer {buffer} "
                               f"of {declared:,} bytes")

    def _accessors(self) -> None:
        for i, accessor in enumerate(self.objects("accessors")):
            where = f"accessors[{i}]"
            component = accessor.get("componentType")
            kind = accessor.get("type")
            if not isinstance(component, int) or isinstance(component, bool) or component not in _COMPONENT_BYTES:
                raise _invalid("VALUE_NOT_IN_LIST", f"{where}.componentType is not a glTF component type")
            if not isinstance(kind, str) or kind not in TYPE_COMPONENTS:
                raise _invalid("VALUE_NOT_IN_LIST", f"{where}.type is not a glTF accessor type")
            count = self.integer(accessor, "count", where, minimum=1)
            if count > 3 * self.limits.input_triangles:
                raise ConversionError(errors.INPUT_TOO_LARGE,
                                      f"glTF {where} holds {count:,} elements; that is over the triangle limit.")
            offset = self.integer(accessor, "byteOffset", where, default=0)
            size = _COMPONENT_BYTES[component]
            if offset % size:
                raise _invalid("ACCESSOR_OFFSET_ALIGNMENT", f"{where}.byteOffset {offset} is not a multiple of {size}")
            view_index = self.index(accessor.get("bufferView"), "bufferViews", f"{where}.bufferView", required=False)
            if view_index is not None:
                self._fits_view(where, view_index, offset, count, element_bytes(component, kind), size)
            if "sparse" in accessor:
                self._sparse(where, accessor["sparse"], count, element_bytes(component, kind), size)

    def _fits_view(self, where: str, view_index: int, offset: int, count: int, element: int,
                   component: int) -> None:
        view = self.gltf["bufferViews"][view_index]
        if (view.get("byteOffset", 0) + offset) % component:
            raise _invalid("ACCESSOR_TOTAL_OFFSET_ALIGNMENT",
                           f"{where}: total byteOffset {view.get('byteOffset', 0) + offset} is not a multiple of {component}")
        stride = view.get("byteStride", element)
        if stride < element:
            raise _invalid("ACCESSOR_SMALL_BYTESTRIDE", f"{where}: bufferView byteStride {stride} < element {element}")
        needed = offset + stride * (count - 1) + element
        if needed > view["byteLength"]:
            raise _invalid("ACCESSOR_TOO_LONG",
                           f"{where} (offset {offset:,}, length {needed - offset:,}) does not fit bufferView "
                           f"{view_index} of {view['byteLength']:,} bytes")

    def _sparse(self, where: str, sparse, count: int, element: int, component: int) -> None:
        if not isinstance(sparse, dict) or not isinstance(sparse.get("indices"), dict) \
                or not isinstance(sparse.get("values"), dict):
            raise _invalid("TYPE_MISMATCH", f"{where}.sparse is malformed")
        overrides = self.integer(sparse, "count", f"{where}.sparse", minimum=1)
        if overrides > count:
            raise _invalid("ACCESSOR_SPARSE_COUNT_OUT_OF_RANGE",
                           f"{where}.sparse overrides {overrides:,} elements of {count:,}")
        indices, values = sparse["indices"], sparse["values"]
        index_type = indices.get("componentType")
        if not isinstance(index_type, int) or index_type not in _INDEX_TYPES:
            raise _invalid("VALUE_NOT_IN_LIST", f"{where}.sparse.indices.componentType is not an index type")
        index_bytes = _COMPONENT_BYTES[index_type]
        for part, item, item_bytes, unit in (("indices", indices, index_bytes, index_bytes),
                                             ("values", values, element, component)):
            view = self.index(item.get("bufferView"), "bufferViews", f"{where}.sparse.{part}.bufferView")
            offset = self.integer(item, "byteOffset", f"{where}.sparse.{part}", default=0)
            self._fits_view(f"{where}.sparse.{part}", view, offset, overrides, item_bytes, unit)

    def _meshes(self) -> None:
        for m, mesh in enumerate(self.objects("meshes")):
            primitives = self.list_of("primitives", mesh)
            for p, primitive in enumerate(primitives):
                where = f"meshes[{m}].primitives[{p}]"
                if not isinstance(primitive, dict) or not isinstance(primitive.get("attributes"), dict):
                    raise _invalid("UNDEFINED_PROPERTY", f"{where}.attributes is missing")
                for name, value in primitive["attributes"].items():
                    self.index(value, "accessors", f"{where}.attributes.{_shown(name)}")
                indices = self.index(primitive.get("indices"), "accessors", f"{where}.indices", required=False)
                if indices is not None:
                    accessor = self.gltf["accessors"][indices]
                    if not isinstance(accessor, dict) or accessor.get("componentType") not in _INDEX_TYPES \
                            or accessor.get("type") != "SCALAR":
                        raise _invalid("MESH_PRIMITIVE_INDICES_ACCESSOR_INVALID_FORMAT",
                                       f"{where}.indices is not a SCALAR of unsigned integers")
                self.index(primitive.get("material"), "materials", f"{where}.material", required=False)
                for t, target in enumerate(self.list_of("targets", primitive)):
                    for name, value in (target.items() if isinstance(target, dict) else ()):
                        self.index(value, "accessors", f"{where}.targets[{t}].{_shown(name)}")
                mode = primitive.get("mode", 4)
                if not isinstance(mode, int) or isinstance(mode, bool) or mode not in range(7):
                    raise _invalid("VALUE_NOT_IN_LIST", f"{where}.mode is not a glTF drawing mode")

    def _nodes_and_scenes(self) -> None:
        nodes = self.objects("nodes")
        parent: dict[int, int] = {}
        for n, node in enumerate(nodes):
            self.index(node.get("mesh"), "meshes", f"nodes[{n}].mesh", required=False)
            for key, length in (("matrix", 16), ("translation", 3), ("rotation", 4), ("scale", 3)):
                if key in node and not _finite_numbers(node[key], length):
                    raise _invalid("ARRAY_LENGTH_NOT_IN_LIST", f"nodes[{n}].{key} is not {length} finite numbers")
            for child in self.list_of("children", node):
                child = self.index(child, "nodes", f"nodes[{n}].children")
                if child in parent or child == n:
                    code = "NODE_LOOP" if child == n else "NODE_PARENT_OVERRIDE"
                    raise _invalid(code, f"node {child} is a child of more than one node (or of itself)")
                parent[child] = n
        depth: dict[int, int] = {}
        for n in range(len(nodes)):
            path, on_path, at = [], set(), n  # up from n to a node of known depth (or a root), then down
            while at not in depth:
                if at in on_path:
                    raise _invalid("NODE_LOOP", f"node {at} is part of a node loop")
                path.append(at)
                on_path.add(at)
                if at not in parent:
                    depth[at] = 0
                    path.pop()
                    break
                at = parent[at]
            for node in reversed(path):
                depth[node] = depth[parent[node]] + 1
            if depth[n] > MAX_NODE_DEPTH:
                raise ConversionError(errors.INPUT_TOO_LARGE,
                                      f"The glTF nests its nodes deeper than {MAX_NODE_DEPTH} levels.")
        for s, scene in enumerate(self.objects("scenes")):
            for node in self.list_of("nodes", scene):
                self.index(node, "nodes", f"scenes[{s}].nodes")
        self.index(self.gltf.get("scene"), "scenes", "scene", required=False)

    def _materials_and_textures(self) -> None:
        for t, texture in enumerate(self.objects("textures")):
            self.index(texture.get("source"), "images", f"textures[{t}].source", required=False)
            self.index(texture.get("sampler"), "samplers", f"textures[{t}].sampler", required=False)
        for m, material in enumerate(self.objects("materials")):
            slots = [material.get(k) for k in ("normalTexture", "occlusionTexture", "emissiveTexture")]
            pbr = material.get("pbrMetallicRoughness")
            if isinstance(pbr, dict):
                slots += [pbr.get("baseColorTexture"), pbr.get("metallicRoughnessTexture")]
            for slot in slots:
                if slot is not None:
                    if not isinstance(slot, dict):
                        raise _invalid("TYPE_MISMATCH", f"materials[{m}] has a texture slot that is not an object")
                    self.index(slot.get("index"), "textures", f"materials[{m}] texture index")

    def _mesh_data(self) -> None:
        """What the mesh is built from: indices within their vertices, finite floats."""
        for m, mesh in enumerate(self.gltf.get("meshes", [])):
            for p, primitive in enumerate(mesh.get("primitives", [])):
                where = f"meshes[{m}].primitives[{p}]"
                vertices = None
                for name, accessor in primitive["attributes"].items():
                    values = self._read(accessor)
                    if values is None:
                        continue
                    vertices = len(values) if name == "POSITION" else vertices
                    if values.dtype.kind == "f" and not np.isfinite(values).all():
                        raise _invalid("ACCESSOR_INVALID_FLOAT",
                                       f"{where}.attributes.{_shown(name)} holds NaN or infinite values")
                indices = primitive.get("indices")
                if indices is not None and vertices is not None:
                    values = self._read(indices)
                    if values is not None and values.size and int(values.max()) >= vertices:
                        raise _invalid("ACCESSOR_INDEX_OOB",
                                       f"{where}.indices reach vertex {int(values.max()):,} of {vertices:,}")

    def _read(self, index: int) -> np.ndarray | None:
        """An accessor's elements (no sparse, no normalisation); None when it has no buffer view."""
        accessor = self.gltf["accessors"][index]
        view_index = accessor.get("bufferView")
        if view_index is None or "sparse" in accessor:
            return None
        view = self.gltf["bufferViews"][view_index]
        components = TYPE_COMPONENTS[accessor["type"]]
        dtype = np.dtype(COMPONENT_DTYPES[accessor["componentType"]])
        element = element_bytes(accessor["componentType"], accessor["type"])
        start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
        data = self.buffers[view["buffer"]]
        return np.ndarray((accessor["count"], components), dtype, buffer=data, offset=start,
                          strides=(view.get("byteStride", element), dtype.itemsize))

    def _images(self) -> None:
        for i, image in enumerate(self.objects("images")):
            name = str(image.get("name") or f"image {i}")
            view = self.index(image.get("bufferView"), "bufferViews", f"images[{i}].bufferView", required=False)
            uri = image.get("uri")
            if view is not None:
                spec = self.gltf["bufferViews"][view]
                start = spec.get("byteOffset", 0)
                data = self.buffers[spec["buffer"]][start:start + spec["byteLength"]]
            elif isinstance(uri, str) and uri.startswith("data:"):
                data = data_uri(uri, f"images[{i}]")  # its real format is checked from its bytes
            elif uri is not None:
                try:
                    path = self._external(uri, f"images[{i}]")
                except ConversionError as exc:
                    if exc.code == errors.REFERENCE_MISSING:
                        continue  # reported as a warning by `load`, which skips it the same way
                    raise
                data, name = path.read_bytes(), uri
            else:
                continue
            check_image_header(data, name, self.limits)


def element_bytes(component: int, kind: str) -> int:
    """Bytes of one element, with the column padding glTF requires for small matrices."""
    size, components = _COMPONENT_BYTES[component], TYPE_COMPONENTS[kind]
    if kind.startswith("MAT") and size < 4:
        rows = int(kind[3])
        return rows * ((rows * size + 3) // 4 * 4)
    return size * components


def _finite_numbers(value, length: int) -> bool:
    return isinstance(value, list) and len(value) == length and all(map(_finite, value))


def _finite(value) -> bool:
    """A JSON number a float32 can hold (JSON integers may be of any size)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and -3e38 < value < 3e38


def data_uri(uri: str, where: str, mime_types: tuple[str, ...] | None = None) -> bytes:
    """A base64 `data:` URI (of one of `mime_types`, if given), decoded strictly; anything else is
    refused."""
    header, comma, payload = uri.partition(",")
    if not comma or not header.endswith(";base64"):
        raise _invalid("INVALID_URI", f"{where} has a data: URI that is not base64")
    mime = header[len("data:"):-len(";base64")]
    if mime_types is not None and mime not in mime_types:
        raise _invalid("BUFFER_DATA_URI_MIME_TYPE_INVALID", f"{where} has a data: URI of type '{_shown(mime)}'")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("INVALID_URI", f"{where} has a data: URI whose base64 is malformed")


def _invalid(code: str, detail: str, what: str = "glTF") -> ConversionError:
    return ConversionError(errors.CORRUPT_FILE,
                           f"The {what} file is invalid ({code}: {detail}); check it with the Khronos glTF-Validator.")


# --- OBJ, PLY, STL ---------------------------------------------------------------------------------

# Literal-led patterns on "\n"-prefixed blocks: several times faster than (?m)^ on large files.
_OBJ_VERTEX = re.compile(rb"\n[ \t]*v[ \t]")
_OBJ_FACE = re.compile(rb"\n[ \t]*f[ \t]+([^\r\n]*)")
_OBJ_CORNER = re.compile(rb"[ \t](-?\d+)")
_OBJ_MTLLIB = re.compile(rb"\n[ \t]*mtllib[ \t]+([^\r\n]*)")
_OBJ_BLOCK = 1 << 20


def check_obj(upload: Upload, limits: Limits, report: Report) -> None:
    """Count vertices, faces and corners on the raw text; every face index must name a vertex."""
    vertices = triangles = highest = 0
    libraries: list[bytes] = []
    with upload.root.open("rb") as fh:
        tail = b""
        while block := fh.read(_OBJ_BLOCK):
            block, tail = _whole_lines(tail + block)
            vertices, triangles, highest = _count_obj(block, vertices, triangles, highest, limits)
            libraries += _OBJ_MTLLIB.findall(b"\n" + block)
        vertices, triangles, highest = _count_obj(tail, vertices, triangles, highest, limits)
        libraries += _OBJ_MTLLIB.findall(b"\n" + tail)
    if highest > vertices:
        raise ConversionError(errors.CORRUPT_FILE,
                              f"The OBJ has a face index {highest:,} outside its {vertices:,} vertices.")
    for library in libraries:
        name = library.decode("utf-8", "replace").strip()
        try:
            resolve_reference(upload.directory, upload.root.parent, name, by_name=True)
        except ConversionError as exc:
            if exc.code != errors.REFERENCE_MISSING:
                raise


def _whole_lines(data: bytes) -> tuple[bytes, bytes]:
    cut = data.rfind(b"\n") + 1
    return data[:cut], data[cut:]


def _count_obj(block: bytes, vertices: int, triangles: int, highest: int, limits: Limits) -> tuple[int, int, int]:
    block = b"\n" + block
    vertices += len(_OBJ_VERTEX.findall(block))
    faces = _OBJ_FACE.findall(block)
    # One regex pass over all the block's faces (a per-face loop takes seconds on a large file):
    # a polygon of n corners is n - 2 triangles, so the block holds corners - 2 x faces of them.
    corners = [abs(int(c)) for c in _OBJ_CORNER.findall(b" " + b" ".join(faces))]
    triangles += max(len(corners) - 2 * len(faces), 0)
    if corners:
        if 0 in corners:
            raise ConversionError(errors.CORRUPT_FILE, "The OBJ has a face index 0 (OBJ counts from 1).")
        highest = max(highest, max(corners))
    if triangles > limits.input_triangles:
        raise ConversionError(errors.TOO_MANY_TRIANGLES,
                              f"The OBJ has over {limits.input_triangles:,} triangles; at most "
                              f"{limits.input_triangles:,} are accepted.")
    return vertices, triangles, highest


_PLY_SIZES = {name: size for names, size in (
    (("char", "int8", "uchar", "uint8"), 1), (("short", "int16", "ushort", "uint16"), 2),
    (("int", "int32", "uint", "uint32", "float", "float32"), 4), (("double", "float64"), 8)) for name in names}


def check_ply(upload: Upload, limits: Limits, report: Report) -> None:
    """The header (bounded) parsed; its counts under the limit and within the bytes present."""
    size = upload.root.stat().st_size
    with upload.root.open("rb") as fh:
        head = fh.read(PLY_HEADER_BYTES)
    end = re.search(rb"\bend_header\r?\n", head)
    if end is None:
        raise ConversionError(errors.CORRUPT_FILE, f"The PLY header does not end within {PLY_HEADER_BYTES:,} bytes.")
    binary = re.search(rb"(?m)^format[ \t]+binary", head[:end.start()]) is not None
    minimum = 0
    row = None
    for line in head[:end.start()].splitlines():
        words = line.split()
        if words[:1] == [b"element"] and len(words) == 3:
            if not words[2].isdigit():
                raise ConversionError(errors.CORRUPT_FILE, "The PLY header has an element without a count.")
            count = int(words[2])
            if count > limits.input_triangles * 3:
                raise ConversionError(errors.TOO_MANY_TRIANGLES,
                                      f"The PLY declares {count:,} {words[1].decode(errors='replace')[:40]} elements; "
                                      "that is over the limit.")
            row = [count, 0]
            minimum += 0 if binary else 2 * count  # ASCII: at least one digit and a newline per row
        elif words[:1] == [b"property"] and row is not None and binary:
            type_name = words[2] if words[1:2] == [b"list"] and len(words) > 2 else words[1] if len(words) > 1 else b""
            minimum += row[0] * _PLY_SIZES.get(type_name.decode(errors="replace"), 1)
    if minimum > size - end.end():
        raise ConversionError(errors.CORRUPT_FILE, "The PLY declares more elements than the file holds.")


def check_stl(upload: Upload, limits: Limits, report: Report) -> None:
    size = upload.root.stat().st_size
    with upload.root.open("rb") as fh:
        head = fh.read(84)
    if head[:5].lower() != b"solid" and len(head) == 84:
        count = int.from_bytes(head[80:84], "little")
        if size != 84 + 50 * count:
            raise ConversionError(errors.CORRUPT_FILE, f"The binary STL declares {count:,} triangles but its size does not match.")
        if count > limits.input_triangles:
            raise ConversionError(errors.TOO_MANY_TRIANGLES,
                                  f"The STL has {count:,} triangles; at most {limits.input_triangles:,} are accepted.")
    elif size // 100 > limits.input_triangles:  # an ASCII facet takes well over 100 bytes
        raise ConversionError(errors.TOO_MANY_TRIANGLES, "The ASCII STL is too large to be under the triangle limit.")


def _check_collada(upload: Upload, limits: Limits, report: Report) -> None:
    from . import load_collada  # expat only: no DTD, no deep nesting, before pycollada

    load_collada.precheck(upload)


def _check_usd(upload: Upload, limits: Limits, report: Report) -> None:
    from . import load_usd  # usd-core's layer reader, without composing anything

    load_usd.check_asset_paths(upload, report)


def _shown(text: str) -> str:
    text = str(text)
    return text if len(text) <= 80 else text[:77] + "..."


CHECKS: dict[str, Callable[[Upload, Limits, Report], None]] = {
    "glb": check_gltf, "gltf": check_gltf, "obj": check_obj, "ply": check_ply, "stl": check_stl,
    "dae": _check_collada, "usd": _check_usd,
}
