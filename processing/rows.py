"""rows: picking rows out of narrow (n, k) arrays — vertices, faces, normals, UVs — fast.

numpy's fancy indexing on a 2-D array walks it element by element; on rows of 2-4 numbers that
is several times slower than copying whole rows. Measured (issue 3) on the stress capsule's
327k vertices and 653k faces: `positions[index]` 24.6 ms, `np.take(positions, index, axis=0)`
5.4 ms; `faces[mask]` 46.4 ms, `np.compress` 11.0 ms, the same mask on a view of each row as one
opaque value 1.6 ms. Results are identical to the indexing they replace.
"""
from __future__ import annotations

import numpy as np

UNUSED = 0xFFFFFFFF  # meshoptimizer's remap value for a row nothing uses


def take_rows(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """`array[index]` for an integer `index` (a copy; an index out of range raises IndexError)."""
    return np.take(array, index, axis=0)


def remap_sources(remap: np.ndarray, count: int) -> np.ndarray:
    """For a remap old row -> new row (meshoptimizer's: unused old rows map to 0xFFFFFFFF), one old
    row for each of the `count` new ones; `take_rows(rows, remap_sources(...))` then moves the rows
    (old rows mapped alike are equal, so any of them will do)."""
    used = np.flatnonzero(remap != UNUSED)
    source = np.empty(count, dtype=np.intp)
    source[remap[used]] = used
    return source


def masked_rows(array: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`array[mask]` for a boolean `mask` with one entry per row."""
    if array.ndim != 2 or array.shape[1] == 0 or len(mask) != len(array):
        return array[mask]
    return row_keys(array)[mask].view(array.dtype).reshape(-1, array.shape[1])


def row_keys(rows: np.ndarray) -> np.ndarray:
    """One opaque value per row (a view where it can be): whole rows then move, or compare in
    np.unique, at the speed of bytes."""
    rows = np.ascontiguousarray(rows)
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
