"""A weight matrix's digest by value, so that two matrices held at different times compare as np.array_equal
compares them when both are held: equal values are equal whatever the dtype, and -0.0 equals 0.0. A sequential
run (docs/reference/sequential.md) keeps the baseline's digests, not its matrices."""

from __future__ import annotations

import hashlib

import numpy as np

ROWS_PER_BLOCK = 256  # bounds the converted copy hashed at once (256 x 49 152 float64 = 100 MB at most)


def matrix_digest(array: np.ndarray) -> str:
    """sha256 over the shape and the finite values of a 2-D float array, block of rows by block: a block whose
    values float32 holds exactly is hashed as float32, any other as float64; adding +0.0 turns -0.0 into 0.0.
    Equal digests mean equal shapes and values (barring a sha256 collision)."""
    h = hashlib.sha256(repr(tuple(array.shape)).encode())
    for start in range(0, array.shape[0], ROWS_PER_BLOCK):
        block = np.asarray(array[start : start + ROWS_PER_BLOCK])
        narrow = block.astype(np.float32, copy=False)
        if block.dtype == np.float32 or np.array_equal(narrow, block):
            h.update(b"f32")
            h.update((narrow + np.float32(0.0)).tobytes())
        else:
            h.update(b"f64")
            h.update((block.astype(np.float64) + 0.0).tobytes())
    return h.hexdigest()
