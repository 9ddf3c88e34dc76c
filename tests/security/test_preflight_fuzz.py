"""Fuzzing the pre-flight validators: whatever the bytes, they accept or raise ConversionError.

Random and mutated GLB, glTF JSON, OBJ, PLY, STL and zip inputs go through what runs before any
third-party parser (`ingest.prepare` for archives, `preflight.check` for each format). Anything
but a clean return or a ConversionError — an IndexError, a numpy error, a RecursionError — is a
crash a hostile file could trigger, and fails the test.

`max_examples` is small so the suite stays fast in `make test`; run it longer by hand with
`VITRINE_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/security/test_preflight_fuzz.py`.
Crashers found are kept below as explicit regression cases.
"""
from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processing import ingest, preflight
from processing.errors import ConversionError
from processing.ingest import Upload
from processing.report import Report
from processing.settings import Limits

from tests.processing.inputs import box_obj, checker_png, make_zip

from .hostile import binary_stl_box, box_gltf, corrupt_deflate_zip, glb, ply

EXAMPLES = int(os.environ.get("VITRINE_FUZZ_EXAMPLES", "150"))
LIMITS = Limits(archive_entries=20, archive_unpacked_bytes=1 << 20, gltf_json_bytes=1 << 16, input_triangles=5000,
                texture_pixels=256 * 256, scene_objects=500)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("VITRINE_FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

GLTF, GLTF_BIN = box_gltf()
SEEDS = {
    "glb": glb(GLTF, GLTF_BIN),
    "obj": box_obj().encode(),
    "ply": ply(["format ascii 1.0", "element vertex 3", "property float x", "property float y", "property float z",
                "element face 1", "property list uchar int vertex_indices"], b"0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"),
    "stl": binary_stl_box(),
    "zip": make_zip({"box.obj": box_obj(), "box.mtl": "newmtl wood\nmap_Kd wood.png\n", "wood.png": checker_png(16)}),
}
INTERESTING = (0, 1, 3, 4, 0x7FFFFFFF, 0xFFFFFFFF, 0x4E4F534A, 0x004E4942)


def verdict(fmt: str, data: bytes, files: dict[str, bytes] | None = None) -> str:
    """'accepted' or the ConversionError's code; any other exception propagates (a crash)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "upload"
        folder.mkdir()
        try:
            if fmt == "zip":
                source = Path(tmp) / "input"
                source.write_bytes(data)
                upload = ingest.prepare(source, Path(tmp) / "unpacked", LIMITS)
            else:
                root = folder / f"model.{fmt}"
                root.write_bytes(data)
                for name, content in (files or {}).items():
                    (folder / name).write_bytes(content)
                upload = Upload(fmt, root, folder, archive=bool(files))
            preflight.check(upload, LIMITS, Report())
        except ConversionError as exc:
            assert exc.code and exc.message and tmp not in exc.message
            return exc.code
    return "accepted"


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """`seed` with a few byte flips, overwritten 32-bit fields, a cut or an insertion."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "uint32", "cut", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "uint32" and len(data) >= 4:
            at = min(at, len(data) - 4)
            data[at:at + 4] = struct.pack("<I", draw(st.sampled_from(INTERESTING) | st.integers(0, 0xFFFFFFFF)))
        elif action == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(max_size=16))
    return bytes(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


GLTF_PATHS = [path for path in _paths(GLTF) if path]


@st.composite
def mutated_gltf(draw) -> dict:
    """The box's glTF with a few values (or whole objects) replaced by arbitrary JSON."""
    gltf = json.loads(json.dumps(GLTF))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(GLTF_PATHS))
        holder = gltf
        try:
            for part in path[:-1]:
                holder = holder[part]
            holder[path[-1]] = draw(json_values | st.integers(-8, 2**33))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier replacement removed the path
    return gltf


@FUZZ
@given(data=st.binary(max_size=600), fmt=st.sampled_from(["glb", "gltf", "obj", "ply", "stl", "zip"]))
def test_random_bytes(data, fmt):
    verdict(fmt, data)


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(sorted(SEEDS)))
def test_mutated_files(data, fmt):
    verdict(fmt, data.draw(mutated(SEEDS[fmt])))


@FUZZ
@given(gltf=mutated_gltf())
def test_mutated_gltf_documents(gltf):
    verdict("glb", glb(gltf, GLTF_BIN))


@FUZZ
@given(gltf=mutated_gltf())
def test_mutated_gltf_with_external_files(gltf):
    buffers = gltf.get("buffers")
    if isinstance(buffers, list) and buffers and isinstance(buffers[0], dict):
        buffers[0]["uri"] = "model.bin"
    verdict("gltf", json.dumps(gltf).encode(), {"model.bin": GLTF_BIN})


def test_the_seeds_are_accepted():
    """The fuzzers start from valid files: a validator refusing them would make the fuzz vacuous."""
    for fmt, data in SEEDS.items():
        assert verdict(fmt, data) == "accepted", fmt


def _box_glb_with(path: tuple, value) -> bytes:
    gltf = json.loads(json.dumps(GLTF))
    holder = gltf
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = value
    return glb(gltf, GLTF_BIN)


def _central_directory_shifted(data: bytes, by: int) -> bytes:
    """`data` with the end record's central-directory offset moved by `by` bytes."""
    end = data.rfind(b"PK\x05\x06")
    (offset,) = struct.unpack_from("<I", data, end + 16)
    return data[:end + 16] + struct.pack("<I", offset + by) + data[end + 20:]


def _zip_with_entry(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("box.obj", box_obj())
        archive.writestr(zipfile.ZipInfo(name), b"x")
    return buffer.getvalue()


# Crashers the fuzzers (and the hostile suite) found, kept as they were found.
REGRESSIONS = [
    # an unhashable accessor type: TypeError in the type lookup
    ("glb", _box_glb_with(("accessors", 0, "type"), []), "CORRUPT_FILE"),
    ("glb", _box_glb_with(("accessors", 0, "componentType"), {"x": 1}), "CORRUPT_FILE"),
    # an unhashable extension name: TypeError in the lookup of the ones we cannot decode
    ("glb", _box_glb_with(("extensionsUsed",), [["KHR_draco_mesh_compression"]]), "accepted"),
    # float indices: int(NaN) on their maximum
    ("glb", _box_glb_with(("accessors", 1, "componentType"), 5126), "CORRUPT_FILE"),
    # a uri longer than a file name may be: OSError from the file system
    ("glb", _box_glb_with(("buffers", 0, "uri"), "b" * 5000), "REFERENCE_UNSAFE"),
    # a translation no float holds: OverflowError
    ("glb", _box_glb_with(("nodes", 0, "translation"), [10**400, 0, 0]), "CORRUPT_FILE"),
    # JSON nested past the parser's recursion limit: RecursionError
    ("glb", glb(b'{"asset": {"version": "2.0"}, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"), "CORRUPT_FILE"),
    # a deflate stream with an invalid block type: zlib.error while unpacking
    ("zip", corrupt_deflate_zip(), "CORRUPT_FILE"),
    # the central directory's offset one byte off: a negative seek, OSError EINVAL
    ("zip", _central_directory_shifted(SEEDS["zip"], 1), "CORRUPT_FILE"),
    # an entry without a name (or named "."): IndexError on its path's first part
    ("zip", _zip_with_entry(""), "ARCHIVE_UNSAFE"),
    ("zip", _zip_with_entry("."), "ARCHIVE_UNSAFE"),
    # an entry that is a file and a folder at once; a name longer than a file system takes: OSError
    ("zip", make_zip({"parts": "x", "parts/box.obj": box_obj()}), "ARCHIVE_UNSAFE"),
    ("zip", make_zip({"x" * 300 + ".obj": box_obj()}), "ARCHIVE_UNSAFE"),
]


@pytest.mark.parametrize("fmt, data, code", REGRESSIONS)
def test_regressions(fmt, data, code):
    assert verdict(fmt, data) == code
