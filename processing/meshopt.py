"""A typed ctypes binding to the meshoptimizer library shipped in the PyPI `meshoptimizer` wheel.

Why not call the wheel's Python functions: it is an alpha whose ctypes calls declare no
`argtypes`, so a Python float reaches C as a double where the C API takes `float` (target_error
arrives as garbage on x86-64) and `size_t` counts are passed as C ints. We load the same shared
library and declare every signature we use, so the C side sees exactly what it expects.
Only the wheel's compiled library is used; none of its Python code.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
from functools import lru_cache

import numpy as np

LOCK_BORDER = 1 << 0
ERROR_ABSOLUTE = 1 << 2
PRUNE = 1 << 3

_u32p = ctypes.POINTER(ctypes.c_uint)
_f32p = ctypes.POINTER(ctypes.c_float)
_u8p = ctypes.POINTER(ctypes.c_ubyte)
_size = ctypes.c_size_t


@lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL:
    # Found without importing the package: its __init__ loads its own modules and the library
    # again (~8 ms in every conversion process).
    spec = importlib.util.find_spec("meshoptimizer")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a declared dependency
        raise ImportError("meshoptimizer is required: pip install meshoptimizer")
    folder = spec.submodule_search_locations[0]
    found = glob.glob(os.path.join(folder, "_meshoptimizer*.so")) + glob.glob(
        os.path.join(folder, "_meshoptimizer*.pyd")
    )
    if not found:
        raise ImportError("the meshoptimizer wheel has no compiled library: reinstall meshoptimizer")
    lib = ctypes.CDLL(found[0])
    lib.meshopt_simplify.argtypes = [
        _u32p, _u32p, _size, _f32p, _size, _size, _size, ctypes.c_float, ctypes.c_uint, _f32p,
    ]
    lib.meshopt_simplify.restype = _size
    lib.meshopt_simplifyWithAttributes.argtypes = [
        _u32p, _u32p, _size, _f32p, _size, _size, _f32p, _size, _f32p, _size, _u8p, _size,
        ctypes.c_float, ctypes.c_uint, _f32p,
    ]
    lib.meshopt_simplifyWithAttributes.restype = _size
    lib.meshopt_simplifyScale.argtypes = [_f32p, _size, _size]
    lib.meshopt_simplifyScale.restype = ctypes.c_float
    lib.meshopt_optimizeVertexCache.argtypes = [_u32p, _u32p, _size, _size]
    lib.meshopt_optimizeVertexCache.restype = None
    lib.meshopt_optimizeVertexCacheStrip.argtypes = [_u32p, _u32p, _size, _size]
    lib.meshopt_optimizeVertexCacheStrip.restype = None
    lib.meshopt_optimizeVertexFetchRemap.argtypes = [_u32p, _u32p, _size, _size]
    lib.meshopt_optimizeVertexFetchRemap.restype = _size
    lib.meshopt_generateVertexRemap.argtypes = [_u32p, _u32p, _size, ctypes.c_void_p, _size, _size]
    lib.meshopt_generateVertexRemap.restype = _size
    lib.meshopt_encodeFilterOct.argtypes = [ctypes.c_void_p, _size, _size, ctypes.c_int, _f32p]
    lib.meshopt_encodeFilterOct.restype = None
    lib.meshopt_encodeVertexBufferBound.argtypes = [_size, _size]
    lib.meshopt_encodeVertexBufferBound.restype = _size
    lib.meshopt_encodeVertexBuffer.argtypes = [_u8p, _size, ctypes.c_void_p, _size, _size]
    lib.meshopt_encodeVertexBuffer.restype = _size
    lib.meshopt_encodeIndexBufferBound.argtypes = [_size, _size]
    lib.meshopt_encodeIndexBufferBound.restype = _size
    lib.meshopt_encodeIndexBuffer.argtypes = [_u8p, _size, _u32p, _size]
    lib.meshopt_encodeIndexBuffer.restype = _size
    lib.meshopt_encodeVertexVersion.argtypes = [ctypes.c_int]
    lib.meshopt_encodeIndexVersion.argtypes = [ctypes.c_int]
    # EXT_meshopt_compression defines vertex codec version 0 and index codec version 1.
    lib.meshopt_encodeVertexVersion(0)
    lib.meshopt_encodeIndexVersion(1)
    return lib


def _ptr(array: np.ndarray, kind):
    return array.ctypes.data_as(kind)


def simplify(
    positions: np.ndarray,
    faces: np.ndarray,
    target_triangles: int,
    attributes: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    target_error: float = 1.0,
    options: int = 0,
) -> tuple[np.ndarray, float]:
    """Collapse edges until `target_triangles` or `target_error` is reached, whichever first.

    Errors are relative to the mesh extent, or in the mesh's units with `ERROR_ABSOLUTE`.

    `attributes` (n x k float32, e.g. normals and UVs) join the error metric with `weights`, so
    collapses that would smear them cost more. Vertices are never moved, only dropped; UV seams
    and material borders stay where they are because meshoptimizer keeps seam edges intact.
    Returns the new faces and the error reached (same convention as `target_error`).
    """
    positions = np.ascontiguousarray(positions, dtype=np.float32)
    indices = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
    destination = np.empty_like(indices)
    error = ctypes.c_float(0.0)
    target_indices = max(0, int(target_triangles)) * 3
    lib = _lib()
    if attributes is None:
        count = lib.meshopt_simplify(
            _ptr(destination, _u32p), _ptr(indices, _u32p), indices.size,
            _ptr(positions, _f32p), len(positions), 12,
            target_indices, target_error, options, ctypes.byref(error),
        )
    else:
        attributes = np.ascontiguousarray(attributes, dtype=np.float32)
        weights = np.ascontiguousarray(weights, dtype=np.float32)
        count = lib.meshopt_simplifyWithAttributes(
            _ptr(destination, _u32p), _ptr(indices, _u32p), indices.size,
            _ptr(positions, _f32p), len(positions), 12,
            _ptr(attributes, _f32p), attributes.shape[1] * 4, _ptr(weights, _f32p), weights.size,
            None, target_indices, target_error, options, ctypes.byref(error),
        )
    return destination[:count].reshape(-1, 3).copy(), float(error.value)


def simplify_scale(positions: np.ndarray) -> float:
    """The factor from meshoptimizer's relative errors to the mesh's own units."""
    positions = np.ascontiguousarray(positions, dtype=np.float32)
    return float(_lib().meshopt_simplifyScale(_ptr(positions, _f32p), len(positions), 12))


def encode_vertex_buffer(vertices: np.ndarray) -> bytes:
    """meshopt vertex codec (EXT_meshopt_compression ATTRIBUTES mode); rows are vertices."""
    vertices = np.ascontiguousarray(vertices)
    count, size = len(vertices), vertices.itemsize * int(np.prod(vertices.shape[1:]))
    lib = _lib()
    out = np.empty(lib.meshopt_encodeVertexBufferBound(count, size), dtype=np.uint8)
    used = lib.meshopt_encodeVertexBuffer(_ptr(out, _u8p), out.size, vertices.ctypes.data, count, size)
    if used == 0:
        raise ValueError("meshopt vertex encoding failed")
    return out[:used].tobytes()


def encode_index_buffer(faces: np.ndarray, vertex_count: int) -> bytes:
    """meshopt index codec (TRIANGLES mode)."""
    indices = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
    lib = _lib()
    out = np.empty(lib.meshopt_encodeIndexBufferBound(indices.size, vertex_count), dtype=np.uint8)
    used = lib.meshopt_encodeIndexBuffer(_ptr(out, _u8p), out.size, _ptr(indices, _u32p), indices.size)
    if used == 0:
        raise ValueError("meshopt index encoding failed")
    return out[:used].tobytes()


def optimize_vertex_cache(faces: np.ndarray, vertex_count: int) -> np.ndarray:
    """Reorder triangles for the GPU's post-transform cache (same triangles, better order)."""
    indices = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
    destination = np.empty_like(indices)
    _lib().meshopt_optimizeVertexCache(
        _ptr(destination, _u32p), _ptr(indices, _u32p), indices.size, vertex_count
    )
    return destination.reshape(-1, 3)


def optimize_vertex_cache_strip(faces: np.ndarray, vertex_count: int) -> np.ndarray:
    """Reorder triangles into strip-like runs: slightly worse for the GPU cache than
    `optimize_vertex_cache`, but the order meshopt's index codec compresses best (gltfpack -cc)."""
    indices = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
    destination = np.empty_like(indices)
    _lib().meshopt_optimizeVertexCacheStrip(
        _ptr(destination, _u32p), _ptr(indices, _u32p), indices.size, vertex_count
    )
    return destination.reshape(-1, 3)


def vertex_fetch_remap(faces: np.ndarray, vertex_count: int) -> tuple[np.ndarray, int]:
    """Old→new vertex index in first-use order (unused vertices map to 0xFFFFFFFF), and the kept count."""
    indices = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
    remap = np.empty(vertex_count, dtype=np.uint32)
    kept = _lib().meshopt_optimizeVertexFetchRemap(
        _ptr(remap, _u32p), _ptr(indices, _u32p), indices.size, vertex_count
    )
    return remap, int(kept)


def unique_vertex_remap(faces: np.ndarray, vertices: np.ndarray) -> tuple[np.ndarray, int]:
    """Old→new vertex index merging byte-identical rows of `vertices` (new ids in first-seen order,
    vertices no face uses map to 0xFFFFFFFF), and the number of distinct vertices."""
    indices = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
    vertices = np.ascontiguousarray(vertices)
    remap = np.empty(len(vertices), dtype=np.uint32)
    size = vertices.itemsize * int(np.prod(vertices.shape[1:]))
    kept = _lib().meshopt_generateVertexRemap(
        _ptr(remap, _u32p), _ptr(indices, _u32p), indices.size, vertices.ctypes.data, len(vertices), size
    )
    return remap, int(kept)


def encode_filter_oct(normals: np.ndarray, bits: int = 8) -> np.ndarray:
    """Unit vectors (n x 3) as octahedral-encoded signed bytes (n x 4; the 4th is 0): what the
    EXT_meshopt_compression OCTAHEDRAL filter decodes back to normalised int8 x, y, z, w."""
    if not 2 <= bits <= 8:
        raise ValueError("octahedral encoding into bytes takes 2 to 8 bits")
    data = np.zeros((len(normals), 4), dtype=np.float32)
    data[:, :3] = normals
    out = np.empty((len(normals), 4), dtype=np.int8)
    _lib().meshopt_encodeFilterOct(out.ctypes.data, len(normals), 4, bits, _ptr(data, _f32p))
    return out
