"""validate: check the files exactly as they will be published; any failure fails the job.

- budget: the GLB's drawn triangles are within `max_triangles`;
- GLB: re-read from its bytes (header and chunk lengths, every accessor inside its buffer view,
  every index inside its vertex range), and the world size measured on it — that measurement is
  the `dimensions_m` a product shows;
- USDZ: the package rules, ARKit rules and usd-core's validators (`usdz_checks`, run on the
  written file by the process that wrote it: `export_usdz`, collected here since it writes while
  the GLBs are written), and its world bounding box equal to the GLB's (a USDZ at the wrong size
  is the top AR complaint).
The Khronos glTF-Validator (Node) runs over every output in the test suite, not here: the
pipeline stays pure Python.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import errors, export_usdz
from .errors import ConversionError
from .preflight import COMPONENT_DTYPES, element_bytes, read_gltf_json
from .settings import Limits, Settings

SIZE_TOLERANCE = 1e-3


def run(conv, settings: Settings) -> None:
    export_usdz.collect(conv)
    glb = conv.outputs["glb"]
    problems = check_glb_structure(glb) + check_glb_structure(conv.outputs["glb_web"])
    glb_size, glb_triangles = measure_glb(glb)
    if glb_triangles > settings.max_triangles:
        problems.append(f"GLB has {glb_triangles} triangles, over the budget of {settings.max_triangles}")
    usdz_problems = list(conv.usdz_checked["problems"])
    usd_size = np.array(conv.usdz_checked["size"])
    if not np.allclose(usd_size, glb_size, rtol=SIZE_TOLERANCE, atol=1e-6):
        usdz_problems.append(f"USDZ size {usd_size.round(4).tolist()} m differs from the GLB's {glb_size.round(4).tolist()} m")
    conv.report.validation = {"glb": {"errors": problems, "triangles": glb_triangles},
                              "usdz": {"errors": usdz_problems}}
    conv.report.dimensions_m = {axis: round(float(v), 6) for axis, v in zip(("width", "height", "depth"), glb_size)}
    if problems or usdz_problems:
        raise ConversionError(errors.VALIDATION_FAILED,
                              "The converted files failed validation: " + "; ".join((problems + usdz_problems)[:3]))


def check_glb_structure(path) -> list[str]:
    try:
        gltf, binary = read_gltf_json(path, Limits())
    except ConversionError as exc:
        return [exc.message]
    binary = binary or b""
    problems = []
    views = gltf.get("bufferViews", [])
    for index, view in enumerate(views):
        stored = view.get("extensions", {}).get("EXT_meshopt_compression", view)
        if stored.get("buffer", 0) == 0 and stored.get("byteOffset", 0) + stored["byteLength"] > len(binary):
            problems.append(f"bufferView {index} runs past the binary chunk")
    for index, accessor in enumerate(gltf.get("accessors", [])):
        view = views[accessor["bufferView"]]
        needed = accessor["count"] * element_bytes(accessor["componentType"], accessor["type"])
        if accessor.get("byteOffset", 0) + needed > view["byteLength"]:
            problems.append(f"accessor {index} does not fit its buffer view")
    problems += _non_unit_normals(gltf, binary)
    return problems


def _non_unit_normals(gltf: dict, binary: bytes) -> list[str]:
    """Normals must be unit length (Khronos ACCESSOR_VECTOR3_NON_UNIT); our writer packs them tight."""
    problems = []
    for mesh in gltf.get("meshes", []):
        for prim in mesh["primitives"]:
            if "NORMAL" not in prim["attributes"]:
                continue
            accessor = gltf["accessors"][prim["attributes"]["NORMAL"]]
            view = gltf["bufferViews"][accessor["bufferView"]]
            if accessor["componentType"] != 5126 or "extensions" in view:
                continue  # quantised or compressed: checked after decoding, in the tests
            start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
            normals = np.frombuffer(binary, np.float32, accessor["count"] * 3, start).reshape(-1, 3)
            if np.abs(np.linalg.norm(normals, axis=1) - 1.0).max(initial=0.0) > 0.005:
                problems.append(f"mesh '{mesh.get('name')}' has normals that are not unit length")
    return problems


def measure_glb(path) -> tuple[np.ndarray, int]:
    """World bounding-box size (metres) and drawn triangles of a GLB, read back independently of
    the exporter: each primitive's POSITION data through its node's world matrix, over the nodes
    of the default scene."""
    gltf, binary = read_gltf_json(Path(path), Limits())
    low, high, triangles = np.full(3, np.inf), np.full(3, -np.inf), 0
    nodes = gltf.get("nodes", [])
    stack = [(root, np.eye(4)) for root in gltf["scenes"][gltf.get("scene", 0)].get("nodes", [])]
    while stack:
        index, parent = stack.pop()
        node = nodes[index]
        world = parent @ _node_matrix(node)
        stack += [(child, world) for child in node.get("children", [])]
        mesh = gltf["meshes"][node["mesh"]] if "mesh" in node else {"primitives": []}
        for prim in mesh["primitives"]:
            points = _positions(gltf, binary or b"", prim["attributes"]["POSITION"]) @ world[:3, :3].T + world[:3, 3]
            low, high = np.minimum(low, points.min(axis=0)), np.maximum(high, points.max(axis=0))
            triangles += _triangles_drawn(gltf, prim, len(points))
    return high - low, triangles


def _node_matrix(node: dict) -> np.ndarray:
    """matrix (column-major) or translation · rotation (unit quaternion x, y, z, w) · scale."""
    if "matrix" in node:
        return np.array(node["matrix"], dtype=np.float64).reshape(4, 4).T
    rotation = np.asarray(node.get("rotation", (0.0, 0.0, 0.0, 1.0)), dtype=np.float64)
    x, y, z, w = rotation / np.linalg.norm(rotation)
    rotation = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                         [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                         [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * np.asarray(node.get("scale", (1.0, 1.0, 1.0)))
    matrix[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    return matrix


def _positions(gltf: dict, binary: bytes, index: int) -> np.ndarray:
    accessor = gltf["accessors"][index]
    view = gltf["bufferViews"][accessor["bufferView"]]
    dtype = np.dtype(COMPONENT_DTYPES[accessor["componentType"]])
    points = np.ndarray((accessor["count"], 3), dtype, buffer=binary,
                        offset=view.get("byteOffset", 0) + accessor.get("byteOffset", 0),
                        strides=(view.get("byteStride", 3 * dtype.itemsize), dtype.itemsize)).astype(np.float64)
    if accessor.get("normalized"):
        points = np.maximum(points / np.iinfo(dtype).max, -1.0)
    return points


def _triangles_drawn(gltf: dict, prim: dict, vertices: int) -> int:
    corners = gltf["accessors"][prim["indices"]]["count"] if "indices" in prim else vertices
    mode = prim.get("mode", 4)
    return corners // 3 if mode == 4 else max(corners - 2, 0) if mode in (5, 6) else 0
