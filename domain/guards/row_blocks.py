"""Products of a weight matrix in float64, taken one block of rows at a time: the guards never hold a float64
copy of a whole matrix (at 7 B parameters an embedding's would be 1 GB; docs/performance.md, Memory)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import LinearOperator

# Gram matrices (one pass, a matrix product per block) are summed over blocks of this many float64 bytes: every
# matrix of the demo model but its embedding is one block, one product as before blocks.
GRAM_BLOCK_BYTES = 16 * 2**20
# Lanczos applies WᵀW once an iteration, as bᵀ(b·x) per block. A block that stays in one core's L2 cache between
# its two products made an iteration 30 % faster than two products with a whole float64 copy (8192², one BLAS
# thread, Xeon; docs/performance.md, Large-matrix path).
OPERATOR_BLOCK_BYTES = 2**20


def block_rows(cols: int, block_bytes: int) -> int:
    """How many float64 rows of `cols` columns fit in `block_bytes` (at least one)."""
    return max(1, block_bytes // (8 * max(cols, 1)))


def float64_blocks(
    w: np.ndarray, block_bytes: int, columns: np.ndarray | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, float64 copy) of each block of at most `block_bytes` of the m×n matrix `w`'s rows, or of its
    `columns` only."""
    rows = block_rows(w.shape[1] if columns is None else len(columns), block_bytes)
    for start in range(0, w.shape[0], rows):
        block = w[start : start + rows]
        yield start, (block if columns is None else block[:, columns]).astype(np.float64)


def gram(w: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """WᵀW in float64 (n×n) of the m×n matrix `w`, or of its `columns` only, summed over row blocks of at most
    GRAM_BLOCK_BYTES."""
    n = w.shape[1] if columns is None else len(columns)
    total: np.ndarray | None = None
    for _, block in float64_blocks(w, GRAM_BLOCK_BYTES, columns):
        part = block.T @ block
        total = part if total is None else np.add(total, part, out=total)
    return np.zeros((n, n)) if total is None else total


class GramOperator(LinearOperator):  # type: ignore[misc]  # scipy ships no type information
    """x ↦ WᵀW·x for the m×n matrix `w`, one float64 row block (reused buffer) at a time."""

    def __init__(self, w: np.ndarray) -> None:
        super().__init__(dtype=np.dtype(np.float64), shape=(w.shape[1], w.shape[1]))
        self.w = w
        self.rows = block_rows(w.shape[1], OPERATOR_BLOCK_BYTES)
        self.buffer = np.empty((min(self.rows, w.shape[0]), w.shape[1]))

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        out = np.zeros(self.shape[0])
        for start in range(0, self.w.shape[0], self.rows):
            block = self.buffer[: min(self.rows, self.w.shape[0] - start)]
            block[...] = self.w[start : start + self.rows]
            out += block.T @ (block @ x)
        return out

    def _adjoint(self) -> GramOperator:
        return self


def times(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """W·X in float64 for the m×n matrix `w` and an n×k `x`, by row blocks of at most GRAM_BLOCK_BYTES."""
    out = np.empty((w.shape[0], x.shape[1]))
    for start, block in float64_blocks(w, GRAM_BLOCK_BYTES):
        out[start : start + len(block)] = block @ x
    return out


def top_singular_values(w: np.ndarray, k: int, v0: np.ndarray) -> np.ndarray:
    """The k largest singular values of the tall m×n matrix `w` (k < n), descending: ARPACK's k largest
    eigenvectors of WᵀW to machine precision, orthonormalised, then the singular values of W·V, as
    scipy.sparse.linalg.svds computes them, with every product by row blocks."""
    from scipy.sparse.linalg import eigsh  # at call time, so that tests can count the partial spectra

    _, vectors = eigsh(GramOperator(w), k=k, tol=0, which="LM", v0=v0)
    vectors, _ = np.linalg.qr(vectors)
    values = scipy.linalg.svd(times(w, vectors), compute_uv=False, overwrite_a=True)
    return np.sort(np.asarray(values))[::-1]
