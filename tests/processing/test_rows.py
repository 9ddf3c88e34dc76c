"""rows: the fast row picks give exactly what numpy's indexing gives."""
import numpy as np
import pytest

from processing.rows import masked_rows, remap_sources, take_rows


@pytest.mark.parametrize("dtype,width", [(np.float32, 3), (np.uint32, 3), (np.float64, 2), (np.int8, 4)])
def test_picked_rows_equal_indexing(dtype, width):
    rng = np.random.default_rng(1)
    array = (rng.random((1000, width)) * 100).astype(dtype)
    index = rng.integers(0, 1000, 2500)
    mask = rng.random(1000) > 0.3
    assert np.array_equal(take_rows(array, index), array[index])
    assert np.array_equal(masked_rows(array, mask), array[mask])
    assert masked_rows(array, mask).dtype == dtype


def test_empty_picks_strided_arrays_and_single_columns():
    array = np.arange(30, dtype=np.float32).reshape(10, 3)
    assert masked_rows(array, np.zeros(10, dtype=bool)).shape == (0, 3)
    strided = np.arange(60, dtype=np.uint32).reshape(10, 6)[:, ::2]
    mask = np.arange(10) % 3 == 0
    assert np.array_equal(masked_rows(strided, mask), strided[mask])
    assert np.array_equal(masked_rows(np.arange(10), mask), np.arange(10)[mask])


def test_an_index_out_of_range_raises():
    with pytest.raises(IndexError):
        take_rows(np.zeros((4, 3)), np.array([4]))


def test_remap_sources_move_rows_to_their_new_indices():
    rows = np.array([[0, 0], [1, 1], [0, 0], [2, 2], [9, 9]], dtype=np.float32)
    remap = np.array([1, 0, 1, 2, 0xFFFFFFFF], dtype=np.uint32)  # rows 0 and 2 alike; row 4 unused
    assert np.array_equal(take_rows(rows, remap_sources(remap, 3)), [[1, 1], [0, 0], [2, 2]])
