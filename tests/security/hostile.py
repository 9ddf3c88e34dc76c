"""Hostile uploads, built in code: every class of bad input in SECURITY.md, each with its outcome.

`CASES` is the one table: `Case(name, build, expect_status, expect_code)`. `build(ctx)` returns
the bytes to upload; `ctx` knows where the canary files are (so a case can aim at them by absolute
path, `..`, `file:` or a percent-encoded escape) and the address of the test's own listener (so a
case can aim at the network and the test can prove nothing connected). The expected outcome is
either a 4xx at upload time (`expect_status`, `expect_code`) or a job (202) that fails with
`expect_code`, or — for files that are merely odd but safe — a job that succeeds (`expect_code`
None). `send` names how the request is made when the HTTP layer itself is under test.

The server under test runs with the tiny limits in `LIMITS_ENV`, so every bomb here is a few
kilobytes and is stopped in milliseconds.
"""
from __future__ import annotations

import base64
import io
import json
import random
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from tests.processing.format_inputs import dae_box, fbx_box, max3ds_box, usd_box
from tests.processing.inputs import box_obj, checker_png, make_zip, png_header

KiB = 1024
MiB = 1024 * KiB

# What the server under test is started with (VITRINE_* variables): tiny, so bombs are cheap.
LIMITS_ENV = {
    "VITRINE_MAX_UPLOAD_BYTES": str(512 * KiB),
    "VITRINE_LIMITS__ARCHIVE_ENTRIES": "20",
    "VITRINE_LIMITS__ARCHIVE_UNPACKED_BYTES": str(2 * MiB),
    "VITRINE_LIMITS__ARCHIVE_RATIO": "100",
    "VITRINE_LIMITS__GLTF_JSON_BYTES": str(64 * KiB),
    "VITRINE_LIMITS__INPUT_TRIANGLES": "20000",
    "VITRINE_LIMITS__TEXTURE_PIXELS": str(1024 * 1024),
    "VITRINE_LIMITS__TEXTURE_BYTES_PER_JOB": str(8 * MiB),
    "VITRINE_LIMITS__SCENE_OBJECTS": "1000",
}
MAX_UPLOAD_BYTES = int(LIMITS_ENV["VITRINE_MAX_UPLOAD_BYTES"])


@dataclass(frozen=True)
class Ctx:
    """What a case may aim at: the canaries (absolute paths) and the test's own listener."""

    canary_next_to_data: Path     # <root>/canary.txt, beside the data directory
    canary_in_data: Path          # <root>/data/canary.txt
    canary_in_scratch_parent: Path  # <root>/data/jobs/canary.txt, beside every job's scratch folder
    listener: str                 # "127.0.0.1:PORT": records every connection made to it

    @property
    def canaries(self) -> tuple[Path, ...]:
        return (self.canary_next_to_data, self.canary_in_data, self.canary_in_scratch_parent)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Ctx], bytes]
    expect_status: int          # of the upload: 202 when a job is made
    expect_code: str | None     # the upload's error code, or the job's failure code; None: succeeds
    filename: str = "model.bin"
    send: str = "file"          # how the request is made (see test_hostile_uploads.SENDERS)


# --- small builders -------------------------------------------------------------------------------

JSON_CHUNK, BIN_CHUNK = 0x4E4F534A, 0x004E4942
FLOAT, USHORT = 5126, 5123
BOX_POSITIONS = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=np.float32) * 0.5
BOX_INDICES = np.array([0, 1, 3, 0, 3, 2, 4, 6, 7, 4, 7, 5, 0, 4, 5, 0, 5, 1,
                        2, 3, 7, 2, 7, 6, 0, 2, 6, 0, 6, 4, 1, 5, 7, 1, 7, 3], dtype=np.uint16)


def glb(gltf: dict | bytes, binary: bytes | None = None, version: int = 2) -> bytes:
    """A GLB container around `gltf` (a dict, or raw JSON bytes) and an optional BIN chunk."""
    text = gltf if isinstance(gltf, bytes) else json.dumps(gltf).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), JSON_CHUNK) + text
    if binary is not None:
        binary += b"\x00" * (-len(binary) % 4)
        body += struct.pack("<II", len(binary), BIN_CHUNK) + binary
    return struct.pack("<4sII", b"glTF", version, 12 + len(body)) + body


def box_gltf(positions: np.ndarray = BOX_POSITIONS, indices: np.ndarray = BOX_INDICES,
             buffer_uri: str | None = None) -> tuple[dict, bytes]:
    """A one-box glTF 2.0 document and its binary buffer (positions, then indices)."""
    pos = positions.astype(np.float32).tobytes()
    idx = indices.astype(np.uint16).tobytes()
    data = pos + idx + b"\x00" * (-len(idx) % 4)
    buffer = {"byteLength": len(data)} | ({"uri": buffer_uri} if buffer_uri else {})
    finite = positions[np.isfinite(positions).all(axis=1)] if np.isfinite(positions).any() else BOX_POSITIONS
    gltf = {
        "asset": {"version": "2.0", "generator": "vitrine3d hostile suite"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "box"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "buffers": [buffer],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(pos), "target": 34962},
            {"buffer": 0, "byteOffset": len(pos), "byteLength": len(idx), "target": 34963},
        ],
        "accessors": [
            {"bufferView": 0, "componentType": FLOAT, "count": len(positions), "type": "VEC3",
             "min": finite.min(axis=0).tolist(), "max": finite.max(axis=0).tolist()},
            {"bufferView": 1, "componentType": USHORT, "count": len(indices), "type": "SCALAR"},
        ],
    }
    return gltf, data


def box_glb(mutate: Callable[[dict], object] | None = None, **kwargs) -> bytes:
    """The box as a GLB, its JSON changed by `mutate` first."""
    gltf, data = box_gltf(**kwargs)
    if mutate is not None:
        mutate(gltf)
    return glb(gltf, data)


def gltf_zip(mutate: Callable[[dict], object], extra: dict[str, bytes] | None = None) -> bytes:
    """The box as model.gltf + model.bin in a zip, its JSON changed by `mutate`."""
    gltf, data = box_gltf(buffer_uri="model.bin")
    mutate(gltf)
    return make_zip({"model.gltf": json.dumps(gltf), "model.bin": data, **(extra or {})})


def textured_box_gltf(image: dict, image_bytes: bytes | None = None) -> tuple[dict, bytes]:
    """The box with UVs and a base-colour texture whose image is `image` (uri or bufferView)."""
    gltf, data = box_gltf()
    uvs = (BOX_POSITIONS[:, :2] * 2).astype(np.float32).tobytes()
    gltf["bufferViews"].append({"buffer": 0, "byteOffset": len(data), "byteLength": len(uvs)})
    data += uvs
    gltf["accessors"].append({"bufferView": 2, "componentType": FLOAT, "count": 8, "type": "VEC2"})
    gltf["meshes"][0]["primitives"][0]["attributes"]["TEXCOORD_0"] = 2
    gltf["meshes"][0]["primitives"][0]["material"] = 0
    gltf["materials"] = [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}]
    gltf["textures"] = [{"source": 0}]
    if image_bytes is not None:
        gltf["bufferViews"].append({"buffer": 0, "byteOffset": len(data), "byteLength": len(image_bytes)})
        image = {"bufferView": len(gltf["bufferViews"]) - 1, "mimeType": "image/png"}
        data += image_bytes + b"\x00" * (-len(image_bytes) % 4)
    gltf["images"] = [image]
    gltf["buffers"][0]["byteLength"] = len(data)
    return gltf, data


def textured_glb(image: dict, image_bytes: bytes | None = None) -> bytes:
    return glb(*textured_box_gltf(image, image_bytes))


def with_header(data: bytes, offset: int, value: int) -> bytes:
    """`data` with the little-endian uint32 at `offset` replaced (a lying length)."""
    return data[:offset] + struct.pack("<I", value) + data[offset + 4:]


def set_path(path: str, value) -> Callable[[dict], None]:
    """A mutation setting `gltf[a][i][b]...` from a dotted path like "accessors.0.count"."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def mutate(gltf: dict) -> None:
        node = gltf
        for part in parents:
            node = node[part]
        node[last] = value
    return mutate


def jpeg_header(width: int, height: int) -> bytes:
    """A JPEG whose SOF0 claims width x height (no real scan data)."""
    sof = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    return (b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof
            + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 16 + b"\xff\xd9")


def webp_header(width: int, height: int) -> bytes:
    """A WebP (VP8X) whose canvas claims width x height."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def image_bytes(fmt: str, size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (120, 80, 40)).save(buffer, fmt)
    return buffer.getvalue()


def solid_png(size: int, colour=(200, 100, 50)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return buffer.getvalue()


def obj_zip(obj: str, mtl: str | None = None, files: dict[str, bytes] | None = None) -> bytes:
    entries: dict[str, bytes | str] = {"box.obj": obj}
    if mtl is not None:
        entries["box.mtl"] = mtl
    return make_zip({**entries, **(files or {})})


def obj_with_mtllib(reference: str) -> bytes:
    return obj_zip(box_obj(mtllib=reference))


def obj_with_map(reference: str) -> bytes:
    return obj_zip(box_obj(), f"newmtl wood\nKd 1 1 1\nmap_Kd {reference}\n")


def obj_with_texture(name: str, data: bytes) -> bytes:
    return obj_zip(box_obj(), f"newmtl wood\nKd 1 1 1\nmap_Kd {name}\n", {name: data})


def obj_text(vertices: list[str], faces: list[str]) -> bytes:
    return ("o part\n" + "".join(f"v {v}\n" for v in vertices) + "".join(f"f {f}\n" for f in faces)).encode()


def obj_many_textures(count: int, edge: int) -> bytes:
    """An OBJ with `count` materials, each with its own edge x edge texture, each used by a face."""
    lines = ["mtllib box.mtl", "o box", "v 0 0 0", "v 1 0 0", "v 1 1 0", "v 0 1 0",
             "vt 0 0", "vt 1 0", "vt 1 1", "vt 0 1"]
    mtl, files = [], {}
    for i in range(count):
        lines += [f"usemtl m{i}", "f 1/1 2/2 3/3", "f 1/1 3/3 4/4"]
        mtl += [f"newmtl m{i}", "Kd 1 1 1", f"map_Kd t{i}.png"]
        files[f"t{i}.png"] = solid_png(edge, (i * 40 % 256, 90, 160))
    return obj_zip("\n".join(lines) + "\n", "\n".join(mtl) + "\n", files)


def ply(header_lines: list[str], body: bytes = b"") -> bytes:
    return ("\n".join(["ply", *header_lines, "end_header"]) + "\n").encode() + body


def ascii_stl(vertices: str) -> bytes:
    return (f"solid s\nfacet normal 0 0 1\nouter loop\n{vertices}\nendloop\nendfacet\nendsolid s\n").encode()


def binary_stl_box(declared: int | None = None) -> bytes:
    triangles = BOX_POSITIONS[BOX_INDICES.reshape(-1, 3)]
    body = b"".join(struct.pack("<3f", 0, 0, 1) + t.astype("<f4").tobytes() + b"\x00\x00" for t in triangles)
    return b"\x00" * 80 + struct.pack("<I", len(triangles) if declared is None else declared) + body


def symlink_zip(name: str, target: str, extra: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry, data in (extra or {}).items():
            archive.writestr(entry, data)
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o120777 << 16
        archive.writestr(info, target)
    return buffer.getvalue()


def raw_name_zip(names: list[str]) -> bytes:
    """A zip whose entry names are written as given (zipfile would refuse a NUL in a name)."""
    placeholders = [f"{i:0{len(n.encode())}d}"[: len(n.encode())] for i, n in enumerate(names)]
    data = make_zip({p: box_obj() for p in placeholders}, zipfile.ZIP_STORED)
    for placeholder, name in zip(placeholders, names):
        data = data.replace(placeholder.encode(), name.encode())
    return data


def flagged_zip(local_offset: int, central_offset: int, value: int, mask: bool = True) -> bytes:
    """The box OBJ zip (stored) with a field of the local and the central header changed."""
    data = bytearray(make_zip({"box.obj": box_obj()}, zipfile.ZIP_STORED))
    central = data.rfind(b"PK\x01\x02")
    for at in (local_offset, central + central_offset):
        if mask:
            data[at] |= value
        else:
            data[at:at + 2] = struct.pack("<H", value)
    return bytes(data)


def corrupt_deflate_zip() -> bytes:
    """The box OBJ zip whose deflate stream starts with a block of the reserved (invalid) type."""
    data = bytearray(make_zip({"box.obj": box_obj()}))
    data[30 + len("box.obj")] = 0x07
    return bytes(data)


def lying_size_zip() -> bytes:
    """A deflated entry whose headers say it unpacks to 10 bytes; it unpacks to 1 MiB."""
    data = bytearray(make_zip({"box.obj": box_obj(), "filler.bin": b"\x00" * MiB}))
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = 0
        while (at := data.find(signature, at)) != -1:
            name_at = 30 if signature == b"PK\x03\x04" else 46
            length = struct.unpack_from("<H", data, at + (26 if signature == b"PK\x03\x04" else 28))[0]
            if data[at + name_at:at + name_at + length] == b"filler.bin":
                data[at + size_at:at + size_at + 4] = struct.pack("<I", 10)
            at += 4
    return bytes(data)


def low_entropy(n: int, seed: int) -> bytes:
    """`n` bytes that deflate about 8:1: under the ratio limit, so only the total stops them."""
    rng = random.Random(seed)
    return bytes(rng.getrandbits(1) * 255 for _ in range(n))


def usdz(files: dict[str, bytes | str]) -> bytes:
    """A USDZ as the spec lays it out: a stored zip whose first entry is the root layer."""
    return make_zip(files, zipfile.ZIP_STORED)


def usd_with(extra: str = "", sublayer: str | None = None, texture: str = "wood.png") -> bytes:
    text = usd_box(texture_path=texture, extra="\n" + extra).decode()
    if sublayer is not None:
        text = text.replace("(\n", f"(\n    subLayers = [@{sublayer}@]\n", 1)
    return make_zip({"box.usda": text, "wood.png": checker_png()})


def dae_with_texture(path: str) -> bytes:
    return make_zip({"box.dae": dae_box(texture_path=path), "wood.png": checker_png()})


def dae_document(prolog: str, body: str = "") -> bytes:
    return (f'<?xml version="1.0"?>\n{prolog}\n<COLLADA xmlns="http://www.collada.org/2005/11/COLLADASchema" '
            f'version="1.4.1"><asset><contributor>{body}</contributor></asset></COLLADA>\n').encode()


BILLION_LAUGHS = "<!DOCTYPE COLLADA [<!ENTITY a0 \"ha\">" + "".join(
    f"<!ENTITY a{i} \"{f'&a{i - 1};' * 10}\">" for i in range(1, 10)) + "]>"


def multipart_limit_filler(_: Ctx) -> bytes:
    return b"\x00" * (MAX_UPLOAD_BYTES + 1)


def fbx_truncated(_: Ctx) -> bytes:
    data = fbx_box(embed=True)
    return data[: len(data) // 2]


# --- the table ------------------------------------------------------------------------------------

def _glb_cases() -> list[Case]:
    """glTF/GLB structure: container lengths, accessors, indices, floats, nodes, counts, extensions."""
    box = box_glb()
    json_length = struct.unpack_from("<I", box, 12)[0]
    bin_header = 20 + json_length
    nan = BOX_POSITIONS.copy()
    nan[3] = np.nan
    inf = BOX_POSITIONS.copy()
    inf[5, 1] = np.inf
    oob = BOX_INDICES.copy()
    oob[7] = 9000

    def deep_nodes(depth: int) -> Callable[[dict], None]:
        def mutate(gltf):
            gltf["nodes"] = [{"children": [i + 1]} for i in range(depth)] + [{"mesh": 0}]
        return mutate

    def extend(key: str, item, count: int) -> Callable[[dict], None]:
        return lambda gltf: gltf.setdefault(key, []).extend([item] * count)

    def required(name: str) -> Callable[[dict], None]:
        def mutate(gltf):
            gltf["extensionsUsed"] = [name]
            gltf["extensionsRequired"] = [name]
        return mutate

    def sparse(gltf):
        gltf["accessors"][0]["sparse"] = {"count": 100, "indices": {"bufferView": 1, "componentType": USHORT},
                                          "values": {"bufferView": 0}}

    def bytes_of(data: bytes) -> Callable[[Ctx], bytes]:
        return lambda _: data

    glb_cases = [
        ("glb_header_length_too_long", with_header(box, 8, len(box) + 400), "CORRUPT_FILE"),
        ("glb_header_length_too_short", with_header(box, 8, len(box) - 40), "CORRUPT_FILE"),
        ("glb_json_chunk_past_end", with_header(box, 12, len(box)), "CORRUPT_FILE"),
        ("glb_bin_chunk_past_end", with_header(box, bin_header, 1 << 30), "CORRUPT_FILE"),
        ("glb_first_chunk_not_json", with_header(box, 16, BIN_CHUNK), "CORRUPT_FILE"),
        ("glb_only_a_header", b"glTF\x02\x00\x00\x00\x0c\x00\x00\x00", "CORRUPT_FILE"),
        ("glb_version_1", glb(box_gltf()[0], box_gltf()[1], version=1), "UNSUPPORTED_FORMAT"),
        ("gltf_asset_version_1", box_glb(set_path("asset.version", "1.0")), "UNSUPPORTED_FORMAT"),
        ("gltf_json_not_an_object", glb(b"[1, 2, 3]"), "CORRUPT_FILE"),
        ("gltf_json_invalid", glb(b'{"asset": {"version": "2.0"'), "CORRUPT_FILE"),
        ("gltf_json_nested_absurdly", glb(b'{"asset": {"version": "2.0"}, "extras": ' + b"[" * 30000 + b"]" * 30000 + b"}"),
         "CORRUPT_FILE"),
        ("gltf_json_over_its_limit", box_glb(set_path("asset.extras", "x" * (80 * KiB))), "INPUT_TOO_LARGE"),
        ("accessor_longer_than_its_view", box_glb(set_path("accessors.0.count", 400)), "CORRUPT_FILE"),
        ("accessor_count_absurd", box_glb(set_path("accessors.1.count", 2**40)), "INPUT_TOO_LARGE"),
        ("buffer_view_past_its_buffer", box_glb(set_path("bufferViews.1.byteLength", 100000)), "CORRUPT_FILE"),
        ("buffer_longer_than_the_bin_chunk", box_glb(set_path("buffers.0.byteLength", 1 << 20)), "CORRUPT_FILE"),
        ("accessor_offset_misaligned", box_glb(set_path("accessors.0.byteOffset", 2)), "CORRUPT_FILE"),
        ("accessor_total_offset_misaligned", box_glb(set_path("bufferViews.0.byteOffset", 2)), "CORRUPT_FILE"),
        ("accessor_byte_stride_too_small", box_glb(set_path("bufferViews.0.byteStride", 4)), "CORRUPT_FILE"),
        ("accessor_negative_count", box_glb(set_path("accessors.0.count", -8)), "CORRUPT_FILE"),
        ("accessor_unknown_component_type", box_glb(set_path("accessors.0.componentType", 5130)), "CORRUPT_FILE"),
        ("accessor_unknown_type", box_glb(set_path("accessors.0.type", "VEC7")), "CORRUPT_FILE"),
        ("accessor_sparse_count_past_base", box_glb(sparse), "CORRUPT_FILE"),
        ("indices_out_of_range", box_glb(indices=oob), "CORRUPT_FILE"),
        ("indices_of_floats", box_glb(set_path("accessors.1.componentType", FLOAT)), "CORRUPT_FILE"),
        ("positions_nan", box_glb(positions=nan), "CORRUPT_FILE"),
        ("positions_infinite", box_glb(positions=inf), "CORRUPT_FILE"),
        ("node_cycle", box_glb(set_path("nodes", [{"mesh": 0, "children": [1]}, {"children": [0]}])), "CORRUPT_FILE"),
        ("node_its_own_child", box_glb(set_path("nodes", [{"mesh": 0, "children": [0]}])), "CORRUPT_FILE"),
        ("node_with_two_parents", box_glb(set_path("nodes", [{"children": [2]}, {"children": [2]}, {"mesh": 0}])),
         "CORRUPT_FILE"),
        ("node_depth_absurd", box_glb(deep_nodes(5000)), "INPUT_TOO_LARGE"),
        ("nodes_over_the_object_limit", box_glb(extend("nodes", {}, 5000)), "INPUT_TOO_LARGE"),
        ("accessors_over_the_object_limit",
         box_glb(extend("accessors", {"componentType": FLOAT, "count": 1, "type": "SCALAR"}, 3000)), "INPUT_TOO_LARGE"),
        ("unresolved_position_accessor", box_glb(set_path("meshes.0.primitives.0.attributes.POSITION", 99)),
         "CORRUPT_FILE"),
        ("unresolved_buffer_view", box_glb(set_path("accessors.1.bufferView", 7)), "CORRUPT_FILE"),
        ("unresolved_mesh", box_glb(set_path("nodes.0.mesh", 3)), "CORRUPT_FILE"),
        ("unresolved_scene_node", box_glb(set_path("scenes.0.nodes", [0, 42])), "CORRUPT_FILE"),
        ("index_not_an_integer", box_glb(set_path("nodes.0.mesh", "0")), "CORRUPT_FILE"),
        ("required_extension_unknown", box_glb(required("EXT_vitrine_teleport")), "UNSUPPORTED_FORMAT"),
        ("required_extension_draco", box_glb(required("KHR_draco_mesh_compression")), "UNSUPPORTED_FORMAT"),
        ("embedded_png_bomb", textured_glb({}, png_header(100_000, 100_000)), "TEXTURE_TOO_LARGE"),
        ("embedded_gif", textured_glb({}, image_bytes("GIF")), "TEXTURE_UNSUPPORTED"),
        ("data_uri_png_bomb", textured_glb(
            {"uri": "data:image/png;base64," + base64.b64encode(png_header(100_000, 100_000)).decode()}),
         "TEXTURE_TOO_LARGE"),
        ("data_uri_buffer_bad_base64",
         box_glb(set_path("buffers", [{"byteLength": 132, "uri": "data:application/octet-stream;base64,!!not*base64!!"}])),
         "CORRUPT_FILE"),
        ("data_uri_buffer_wrong_mime",
         box_glb(set_path("buffers", [{"byteLength": 4, "uri": "data:text/html;base64,PHNjcmlwdD4="}])),
         "CORRUPT_FILE"),
    ]
    cases = [Case(name, bytes_of(data), 202, code) for name, data, code in glb_cases]
    cases += [
        Case("glb_buffer_uri_http", lambda ctx: box_glb(set_path("buffers.0.uri", f"http://{ctx.listener}/model.bin")),
             202, "REFERENCE_UNSAFE"),
        Case("glb_image_uri_file_url", lambda ctx: textured_glb({"uri": f"file://{ctx.canary_in_data}"}),
             202, "REFERENCE_UNSAFE"),
        Case("odd_unknown_extension_used_not_required",
             bytes_of(box_glb(set_path("extensionsUsed", ["EXT_vitrine_sparkles"]))), 202, None),
    ]
    return cases


def _gltf_reference_cases() -> list[Case]:
    """glTF `uri`s that leave the upload: every spelling of it, none may be read or fetched."""
    def buffer_at(uri: Callable[[Ctx], str]) -> Callable[[Ctx], bytes]:
        return lambda ctx: gltf_zip(set_path("buffers.0.uri", uri(ctx)))

    def image_at(uri: Callable[[Ctx], str]) -> Callable[[Ctx], bytes]:
        def build(ctx):
            gltf, data = textured_box_gltf({"uri": uri(ctx)})
            gltf["buffers"][0]["uri"] = "model.bin"
            return make_zip({"model.gltf": json.dumps(gltf), "model.bin": data})
        return build

    refs = {
        "file_url": lambda ctx: f"file://{ctx.canary_in_scratch_parent}",
        "absolute": lambda ctx: str(ctx.canary_in_data),
        "climbing": lambda ctx: "../../canary.txt",
        "climbing_percent_encoded": lambda ctx: "%2e%2e/%2e%2e/canary.txt",
        "climbing_encoded_slashes": lambda ctx: "..%2f..%2f..%2fcanary.txt",
        "http": lambda ctx: f"http://{ctx.listener}/model.bin",
        "https": lambda ctx: f"https://{ctx.listener}/model.bin",
        "scheme_relative": lambda ctx: f"//{ctx.listener}/model.bin",
        "backslash_climbing": lambda ctx: "..\\..\\canary.txt",
        "windows_drive": lambda ctx: "C:\\Windows\\win.ini",
        "nul_byte": lambda ctx: "model.bin%00.png",
        "too_long_for_a_file_system": lambda ctx: "a" * 5000 + ".bin",
    }
    cases = [Case(f"gltf_buffer_uri_{kind}", buffer_at(ref), 202, "REFERENCE_UNSAFE") for kind, ref in refs.items()]
    cases += [
        Case("gltf_image_uri_http", image_at(lambda ctx: f"http://{ctx.listener}/wood.png"), 202, "REFERENCE_UNSAFE"),
        Case("gltf_image_uri_absolute", image_at(lambda ctx: str(ctx.canary_next_to_data)), 202, "REFERENCE_UNSAFE"),
        Case("gltf_image_bmp", lambda ctx: _gltf_zip_with_image("wood.bmp", image_bytes("BMP")),
             202, "TEXTURE_UNSUPPORTED"),
        Case("gltf_image_tga_without_magic", lambda ctx: _gltf_zip_with_image("wood.tga", image_bytes("TGA")),
             202, "TEXTURE_UNSUPPORTED"),
        Case("gltf_external_buffer_shorter_than_declared",
             lambda ctx: gltf_zip(set_path("buffers.0.byteLength", 1 << 16)), 202, "CORRUPT_FILE"),
    ]
    return cases


def _gltf_zip_with_image(name: str, data: bytes) -> bytes:
    gltf, binary = textured_box_gltf({"uri": name})
    gltf["buffers"][0]["uri"] = "model.bin"
    return make_zip({"model.gltf": json.dumps(gltf), "model.bin": binary, name: data})


def _obj_cases() -> list[Case]:
    """OBJ/MTL references, counts, indices, and the textures they name."""
    box8 = ["0 0 0", "1 0 0", "1 1 0", "0 1 0", "0 0 1", "1 0 1", "1 1 1", "0 1 1"]
    many_faces = "".join(["v 0 0 0\nv 1 0 0\nv 0 1 0\n"] + ["f 1 2 3\n"] * 25000).encode()
    hidden_faces = "".join(["v 0 0 0\nv 1 0 0\nv 0 1 0\n"] + ["  f\t1 2 3\r\n"] * 25000).encode()
    return [
        Case("obj_mtllib_climbing", lambda ctx: obj_with_mtllib("../../canary.txt"), 202, "REFERENCE_UNSAFE"),
        Case("obj_mtllib_file_url", lambda ctx: obj_with_mtllib(f"file://{ctx.canary_in_data}"), 202, "REFERENCE_UNSAFE"),
        Case("obj_mtllib_http", lambda ctx: obj_with_mtllib(f"http://{ctx.listener}/box.mtl"), 202, "REFERENCE_UNSAFE"),
        Case("obj_map_kd_http", lambda ctx: obj_with_map(f"http://{ctx.listener}/wood.png"), 202, "REFERENCE_UNSAFE"),
        Case("obj_map_kd_percent_encoded_climb", lambda ctx: obj_with_map("%2e%2e/%2e%2e/canary.txt"), 202,
             "REFERENCE_UNSAFE"),
        Case("obj_map_kd_unc_share", lambda ctx: obj_with_map(f"\\\\{ctx.listener.split(':')[0]}\\share\\wood.png"),
             202, "REFERENCE_UNSAFE"),
        # An exporter's own disk path is matched by file name inside the upload; the canary is not in it.
        Case("odd_obj_mtllib_absolute_path", lambda ctx: obj_with_mtllib(str(ctx.canary_next_to_data)), 202, None),
        Case("odd_obj_map_kd_absolute_path", lambda ctx: obj_with_map(str(ctx.canary_in_data)), 202, None),
        Case("obj_faces_over_the_limit", lambda ctx: many_faces, 202, "TOO_MANY_TRIANGLES"),
        Case("obj_faces_hidden_by_whitespace", lambda ctx: hidden_faces, 202, "TOO_MANY_TRIANGLES"),
        Case("obj_index_out_of_range", lambda ctx: obj_text(box8, ["1 2 3", "1 3 99"]), 202, "CORRUPT_FILE"),
        Case("obj_negative_index_out_of_range", lambda ctx: obj_text(box8, ["1 2 3", "-1 -2 -40"]), 202, "CORRUPT_FILE"),
        Case("obj_index_absurd", lambda ctx: obj_text(box8, ["1 2 3", "1 2 99999999999999999999"]), 202, "CORRUPT_FILE"),
        Case("obj_vertex_nan", lambda ctx: obj_text(["nan 0 0", *box8[1:]], ["1 2 3", "2 3 4"]), 202, "CORRUPT_FILE"),
        Case("obj_vertex_infinite", lambda ctx: obj_text(["0 inf 0", *box8[1:]], ["1 2 3", "2 3 4"]), 202, "CORRUPT_FILE"),
        Case("obj_texture_png_bomb", lambda ctx: obj_with_texture("wood.png", png_header(100_000, 100_000)), 202,
             "TEXTURE_TOO_LARGE"),
        Case("obj_texture_jpeg_bomb", lambda ctx: obj_with_texture("wood.jpg", jpeg_header(60_000, 60_000)), 202,
             "TEXTURE_TOO_LARGE"),
        Case("obj_texture_webp_bomb", lambda ctx: obj_with_texture("wood.webp", webp_header(16000, 16000)), 202,
             "TEXTURE_TOO_LARGE"),
        Case("obj_texture_gif", lambda ctx: obj_with_texture("wood.gif", image_bytes("GIF")), 202, "TEXTURE_UNSUPPORTED"),
        Case("obj_texture_tiff", lambda ctx: obj_with_texture("wood.tif", image_bytes("TIFF")), 202, "TEXTURE_UNSUPPORTED"),
        Case("obj_texture_tga_without_magic", lambda ctx: obj_with_texture("wood.tga", image_bytes("TGA")), 202,
             "TEXTURE_UNSUPPORTED"),
        Case("obj_texture_truncated_png", lambda ctx: obj_with_texture("wood.png", checker_png()[:90]), 202,
             "TEXTURE_UNSUPPORTED"),
        Case("obj_textures_over_the_job_budget", lambda ctx: obj_many_textures(3, 1024), 202, "TEXTURE_TOO_LARGE"),
    ]


def _mesh_format_cases() -> list[Case]:
    """STL and PLY counts that lie, and the formats' NaNs."""
    tri = b"0 0 0\n1 0 0\n0 1 0\n0 0 1\n"
    return [
        Case("stl_binary_count_does_not_match_its_size", lambda ctx: binary_stl_box(declared=400), 415,
             "UNSUPPORTED_FORMAT"),
        Case("stl_binary_count_absurd_in_a_zip", lambda ctx: make_zip({"box.stl": binary_stl_box(declared=2**32 - 1)}),
             202, "UNSUPPORTED_FORMAT"),
        Case("stl_ascii_nan", lambda ctx: ascii_stl("vertex 0 0 0\nvertex nan 0 0\nvertex 0 1 0"), 202, "CORRUPT_FILE"),
        Case("ply_billions_of_vertices", lambda ctx: ply(["format ascii 1.0", "element vertex 4000000000",
                                                          "property float x", "property float y", "property float z"]),
             202, "TOO_MANY_TRIANGLES"),
        Case("ply_billions_of_faces", lambda ctx: ply(["format binary_little_endian 1.0", "element vertex 3",
                                                       "property float x", "property float y", "property float z",
                                                       "element face 3000000000", "property list uchar int vertex_indices"]),
             202, "TOO_MANY_TRIANGLES"),
        Case("ply_count_hidden_after_long_comments",
             lambda ctx: ply(["format ascii 1.0", *["comment " + "x" * 100] * 60, "element vertex 4000000000",
                              "property float x", "property float y", "property float z"]),
             202, "TOO_MANY_TRIANGLES"),
        Case("ply_binary_counts_past_the_end",
             lambda ctx: ply(["format binary_little_endian 1.0", "element vertex 5000", "property float x",
                              "property float y", "property float z"], struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)),
             202, "CORRUPT_FILE"),
        Case("ply_without_end_header", lambda ctx: b"ply\nformat ascii 1.0\nelement vertex 3\n" + b"comment x\n" * 800,
             202, "CORRUPT_FILE"),
        Case("ply_face_index_out_of_range",
             lambda ctx: ply(["format ascii 1.0", "element vertex 4", "property float x", "property float y",
                              "property float z", "element face 2", "property list uchar int vertex_indices"],
                             tri + b"3 0 1 2\n3 0 1 77\n"),
             202, "CORRUPT_FILE"),
        Case("3ds_truncated_in_a_zip", lambda ctx: make_zip({"box.3ds": max3ds_box()[:100]}), 202, "UNSUPPORTED_FORMAT"),
        Case("step_that_is_not_cad", lambda ctx: b"ISO-10303-21;\nHEADER;\nENDSEC;\nDATA;\n#1=GARBAGE(;\nENDSEC;\n", 202,
             "CORRUPT_FILE"),
    ]


def _xml_cases() -> list[Case]:
    """COLLADA: any DOCTYPE is refused before a parser sees it; image paths stay inside."""
    return [
        Case("dae_xxe_file", lambda ctx: dae_document(
            f'<!DOCTYPE COLLADA [<!ENTITY leak SYSTEM "file://{ctx.canary_in_data}">]>', "&leak;"), 202, "UNSAFE_INPUT"),
        Case("dae_xxe_http", lambda ctx: dae_document(
            f'<!DOCTYPE COLLADA [<!ENTITY leak SYSTEM "http://{ctx.listener}/x">]>', "&leak;"), 202, "UNSAFE_INPUT"),
        Case("dae_external_dtd", lambda ctx: dae_document(
            f'<!DOCTYPE COLLADA SYSTEM "http://{ctx.listener}/collada.dtd">'), 202, "UNSAFE_INPUT"),
        Case("dae_parameter_entity", lambda ctx: dae_document(
            f'<!DOCTYPE COLLADA [<!ENTITY % p SYSTEM "file://{ctx.canary_in_data}"> %p;]>'), 202, "UNSAFE_INPUT"),
        Case("dae_billion_laughs", lambda ctx: dae_document(BILLION_LAUGHS, "&a9;"), 202, "UNSAFE_INPUT"),
        Case("dae_harmless_doctype", lambda ctx: dae_document("<!DOCTYPE COLLADA>"), 202, "UNSAFE_INPUT"),
        Case("dae_doctype_in_utf16_in_a_zip", lambda ctx: make_zip({"box.dae": dae_document(
            f'<!DOCTYPE COLLADA [<!ENTITY leak SYSTEM "file://{ctx.canary_in_data}">]>', "&leak;").decode().replace(
            '<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")}),
            202, "UNSUPPORTED_FORMAT"),
        Case("dae_nesting_absurd", lambda ctx: dae_document("", "<node>" * 5000 + "</node>" * 5000), 202, "CORRUPT_FILE"),
        Case("dae_init_from_http", lambda ctx: dae_with_texture(f"http://{ctx.listener}/wood.png"), 202, "REFERENCE_UNSAFE"),
        Case("dae_init_from_file_url", lambda ctx: dae_with_texture(f"file://{ctx.canary_in_data}"), 202, "REFERENCE_UNSAFE"),
        Case("dae_init_from_climbing", lambda ctx: dae_with_texture("../../canary.txt"), 202, "REFERENCE_UNSAFE"),
        Case("odd_dae_init_from_absolute_path", lambda ctx: dae_with_texture(str(ctx.canary_next_to_data)), 202, None),
    ]


def _usd_cases() -> list[Case]:
    """USD layers and assets: nothing composed or read from outside the upload."""
    def outside_layer(ctx: Ctx) -> str:
        return str(ctx.canary_in_data)

    return [
        Case("usd_sublayer_absolute", lambda ctx: usd_with(sublayer=outside_layer(ctx)), 202, "REFERENCE_UNSAFE"),
        Case("usd_sublayer_climbing", lambda ctx: usd_with(sublayer="../../canary.usda"), 202, "REFERENCE_UNSAFE"),
        Case("usd_reference_http", lambda ctx: usd_with(f'over "x" ( references = @http://{ctx.listener}/a.usda@ ) {{}}\n'),
             202, "REFERENCE_UNSAFE"),
        Case("usd_payload_file_url", lambda ctx: usd_with(f'over "x" ( payload = @file://{outside_layer(ctx)}@ ) {{}}\n'),
             202, "REFERENCE_UNSAFE"),
        Case("usd_reference_percent_encoded_climb",
             lambda ctx: usd_with('over "x" ( references = @%2e%2e/%2e%2e/canary.usda@ ) {}\n'), 202, "REFERENCE_UNSAFE"),
        Case("usd_reference_in_a_variant", lambda ctx: usd_with(
            'over "x"\n{\n    variantSet "v" = {\n        "a" ( references = @' + outside_layer(ctx) + '@ ) {\n        }\n    }\n}\n'),
            202, "REFERENCE_UNSAFE"),
        Case("usd_texture_absolute", lambda ctx: usd_with(texture=str(ctx.canary_in_data)), 202, "REFERENCE_UNSAFE"),
        Case("usd_asset_path_expression", lambda ctx: usd_with('over "x" ( references = @`"../../canary.usda"`@ ) {}\n'),
             202, "REFERENCE_UNSAFE"),
        Case("usdz_reference_climbing", lambda ctx: usdz({
            "box.usda": usd_box(extra='\nover "x" ( references = @../../canary.usda@ ) {}\n'), "wood.png": checker_png()}),
            202, "REFERENCE_UNSAFE"),
        Case("usdz_bomb", lambda ctx: make_zip({"box.usda": usd_box(), "filler.usda": b"#usda 1.0\n" + b" " * (4 * MiB)}),
             202, "ARCHIVE_TOO_LARGE"),
        Case("usdc_garbage", lambda ctx: b"PXR-USDC" + bytes(random.Random(7).getrandbits(8) for _ in range(4000)), 202,
             "CORRUPT_FILE"),
        Case("usda_truncated", lambda ctx: usd_box()[:300], 202, "CORRUPT_FILE"),
    ]


def _fbx_cases() -> list[Case]:
    return [
        Case("fbx_truncated", fbx_truncated, 202, "CORRUPT_FILE"),
        Case("fbx_binary_garbage", lambda ctx: b"Kaydara FBX Binary  \x00\x1a\x00" + struct.pack("<I", 7400)
             + bytes(random.Random(3).getrandbits(8) for _ in range(3000)), 202, "CORRUPT_FILE"),
        Case("fbx_ascii_garbage", lambda ctx: b"; FBX 7.4.0 project file\nObjects: {\n  Geometry: 1, \"x\" {{{{\n", 202,
             "CORRUPT_FILE"),
        Case("odd_fbx_texture_absolute_path", lambda ctx: fbx_box(texture_path=str(ctx.canary_in_data)), 202, None),
    ]


def _archive_cases() -> list[Case]:
    """Zips: bombs by ratio, by total and by count; nesting; names that leave; links; corruption."""
    obj = box_obj()
    deep = "/".join(["d" * 40] * 110) + "/box.obj"
    return [
        Case("zip_bomb_by_ratio", lambda ctx: make_zip({"box.obj": obj, "filler.png": b"\x00" * (4 * MiB)}), 202,
             "ARCHIVE_TOO_LARGE"),
        Case("zip_bomb_by_total_size", lambda ctx: make_zip(
            {"box.obj": obj, **{f"part{i}.bin": low_entropy(800 * KiB, i) for i in range(3)}}), 202, "ARCHIVE_TOO_LARGE"),
        Case("zip_sizes_that_lie", lambda ctx: lying_size_zip(), 202, "CORRUPT_FILE"),
        Case("zip_too_many_entries", lambda ctx: make_zip({"box.obj": obj, **{f"t{i}.txt": "x" for i in range(40)}}),
             202, "ARCHIVE_TOO_LARGE"),
        Case("zip_too_many_folders", lambda ctx: make_zip({"box.obj": obj, **{f"d{i}/": "" for i in range(40)}}),
             202, "ARCHIVE_TOO_LARGE"),
        Case("zip_nested_zip", lambda ctx: make_zip({"box.obj": obj, "more.zip": make_zip({"x.obj": obj})}), 202,
             "ARCHIVE_UNSAFE"),
        Case("zip_nested_gzip", lambda ctx: make_zip({"box.obj": obj, "t.png": b"\x1f\x8b\x08" + b"\x00" * 40}), 202,
             "ARCHIVE_UNSAFE"),
        Case("zip_nested_7z", lambda ctx: make_zip({"box.obj": obj, "t.bin": b"7z\xbc\xaf\x27\x1c" + b"\x00" * 40}), 202,
             "ARCHIVE_UNSAFE"),
        Case("zip_nested_rar", lambda ctx: make_zip({"box.obj": obj, "t.bin": b"Rar!\x1a\x07\x00" + b"\x00" * 40}), 202,
             "ARCHIVE_UNSAFE"),
        Case("zip_entry_climbing", lambda ctx: make_zip({"../../canary.txt": "overwritten", "box.obj": obj}), 202,
             "ARCHIVE_UNSAFE"),
        Case("zip_entry_climbing_inside_a_folder", lambda ctx: make_zip({"a/../../../evil.obj": obj}), 202, "ARCHIVE_UNSAFE"),
        Case("zip_entry_absolute", lambda ctx: make_zip({str(ctx.canary_in_data): "overwritten", "box.obj": obj}), 202,
             "ARCHIVE_UNSAFE"),
        Case("zip_entry_windows_drive", lambda ctx: make_zip({"C:/evil.obj": obj}), 202, "ARCHIVE_UNSAFE"),
        Case("zip_entry_backslashes", lambda ctx: make_zip({"..\\..\\evil.obj": obj}), 202, "ARCHIVE_UNSAFE"),
        # zipfile ends a name at its first NUL, as the zip tools do: what is checked is what is written.
        Case("odd_zip_entry_with_nul", lambda ctx: raw_name_zip(["box.obj\x00.png"]), 202, None),
        Case("zip_symlink_to_the_canary", lambda ctx: symlink_zip("wood.png", str(ctx.canary_in_data),
                                                                  {"box.obj": obj}), 202, "ARCHIVE_UNSAFE"),
        Case("zip_symlink_folder", lambda ctx: symlink_zip("textures", "/", {"box.obj": obj}), 202, "ARCHIVE_UNSAFE"),
        Case("zip_names_differing_in_case", lambda ctx: make_zip({"box.obj": obj, "BOX.OBJ": obj}), 202, "ARCHIVE_UNSAFE"),
        Case("zip_names_identical", lambda ctx: raw_name_zip(["box.obj", "box.obj"]), 202, "ARCHIVE_UNSAFE"),
        Case("zip_encrypted_entry", lambda ctx: flagged_zip(6, 8, 0x1), 202, "ARCHIVE_UNSAFE"),
        Case("zip_unknown_compression", lambda ctx: flagged_zip(8, 10, 99, mask=False), 202, "CORRUPT_FILE"),
        Case("zip_without_a_model", lambda ctx: make_zip({"readme.txt": "hello"}), 202, "UNSUPPORTED_FORMAT"),
        Case("zip_only_resource_forks", lambda ctx: make_zip({"__MACOSX/._box.obj": obj, ".hidden.obj": obj}), 202,
             "UNSUPPORTED_FORMAT"),
        Case("zip_two_models", lambda ctx: make_zip({"a.obj": obj, "b.stl": binary_stl_box()}), 202, "AMBIGUOUS_ARCHIVE"),
        Case("zip_truncated", lambda ctx: make_zip({"box.obj": obj, "wood.png": checker_png()})[:-60], 202, "CORRUPT_FILE"),
        Case("zip_bad_crc", lambda ctx: make_zip({"box.obj": obj}, zipfile.ZIP_STORED).replace(b"mtllib", b"mtlli_", 1),
             202, "CORRUPT_FILE"),
        Case("zip_corrupt_deflate_stream", lambda ctx: corrupt_deflate_zip(), 202, "CORRUPT_FILE"),
        Case("zip_empty", lambda ctx: b"PK\x05\x06" + b"\x00" * 18, 202, "UNSUPPORTED_FORMAT"),
        Case("zip_model_that_is_an_image", lambda ctx: make_zip({"box.obj": checker_png()}), 202, "UNSUPPORTED_FORMAT"),
        Case("zip_file_and_folder_of_one_name", lambda ctx: make_zip({"parts": "x", "parts/box.obj": obj}), 202,
             "ARCHIVE_UNSAFE"),
        Case("zip_entry_name_too_long", lambda ctx: make_zip({"x" * 300 + ".obj": obj}), 202, "ARCHIVE_UNSAFE"),
        Case("zip_entry_path_too_deep", lambda ctx: make_zip({deep: obj}), 202, "ARCHIVE_UNSAFE"),
        Case("odd_zip_with_resource_forks", lambda ctx: make_zip(
            {"box.obj": box_obj(mtllib="none.mtl"), "__MACOSX/._box.obj": b"\x00\x05\x16\x07junk"}), 202, None),
    ]


def _http_cases() -> list[Case]:
    """The HTTP layer: sizes, multipart shapes, hostile filenames, lying extensions, retries."""
    plain = box_glb()

    def model(_: Ctx) -> bytes:
        return plain

    def broken(_: Ctx) -> bytes:
        return with_header(plain, 8, len(plain) + 4)

    return [
        Case("http_empty_file", lambda ctx: b"", 400, "EMPTY_FILE"),
        Case("http_unknown_bytes", lambda ctx: b"MZ\x90\x00 this is a program, not a model", 415, "UNSUPPORTED_FORMAT"),
        Case("http_image_instead_of_a_model", lambda ctx: checker_png(), 415, "UNSUPPORTED_FORMAT"),
        Case("http_html_instead_of_a_model", lambda ctx: b"<html><script>alert(1)</script></html>", 415,
             "UNSUPPORTED_FORMAT"),
        Case("http_bare_gltf_without_its_files", lambda ctx: json.dumps(box_gltf(buffer_uri="model.bin")[0]).encode(),
             202, "REFERENCE_MISSING"),
        Case("http_body_over_the_limit", multipart_limit_filler, 413, "UPLOAD_TOO_LARGE"),
        Case("http_body_over_the_limit_chunked", multipart_limit_filler, 413, "UPLOAD_TOO_LARGE", send="chunked"),
        Case("http_too_many_parts", model, 400, "TOO_MANY_PARTS", send="many_parts"),
        Case("http_huge_form_field", model, 400, "FIELD_TOO_LARGE", send="huge_field"),
        Case("http_no_file_part", model, 400, "MISSING_FILE", send="no_file"),
        Case("http_two_files", model, 400, "TOO_MANY_FILES", send="two_files"),
        Case("http_file_in_another_field", model, 400, "UNEXPECTED_FILE", send="wrong_field"),
        Case("http_multipart_never_closed", model, 400, "INVALID_MULTIPART", send="unterminated"),
        Case("http_not_multipart", model, 415, "UNSUPPORTED_MEDIA_TYPE", send="raw_body"),
        Case("http_retry_with_idempotency_key", model, 202, None, send="retry"),
        # Stored names are the server's: a hostile filename changes nothing. One is converted and
        # published; the others carry a file the pre-flight refuses (a cheap job with a known end).
        Case("odd_filename_climbing", model, 202, None, filename="../../../etc/passwd"),
        Case("filename_absolute", broken, 202, "CORRUPT_FILE", filename="/etc/cron.d/model.glb"),
        Case("filename_nul_and_controls", broken, 202, "CORRUPT_FILE", filename="model\x00.glb\r\n.exe"),
        Case("filename_very_long", broken, 202, "CORRUPT_FILE", filename="m" * 1000 + ".glb"),
        Case("filename_rtl_override", broken, 202, "CORRUPT_FILE", filename="model\u202egpj.exe"),
        Case("odd_extension_that_lies", model, 202, None, filename="chair.png"),
    ]


# Cases sent to the product that already has a published version: it must stay published, untouched.
ONTO_PUBLISHED = ("zip_bomb_by_ratio", "dae_xxe_file", "glb_bin_chunk_past_end")

CASES: list[Case] = [*_http_cases(), *_archive_cases(), *_glb_cases(), *_gltf_reference_cases(), *_obj_cases(),
                     *_mesh_format_cases(), *_xml_cases(), *_usd_cases(), *_fbx_cases()]
