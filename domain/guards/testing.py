"""Multiple-testing corrections over per-matrix p-values (docs/assurance/guards.md §2)."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr


def two_sided_p(z: np.ndarray) -> np.ndarray:
    """Two-sided normal p-values 2·Φ(−|z|)."""
    return np.asarray(2.0 * ndtr(-np.abs(np.asarray(z, dtype=np.float64))))


def bonferroni(p: np.ndarray, alpha: float) -> np.ndarray:
    """Reject H_i iff p_i ≤ α/m."""
    p = np.asarray(p, dtype=np.float64)
    return np.asarray(p <= alpha / max(len(p), 1))


def benjamini_hochberg(p: np.ndarray, alpha: float) -> np.ndarray:
    """Step-up BH: with p sorted ascending, reject the k smallest for the largest k with p_(k) ≤ αk/m."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    below = p[order] <= alpha * np.arange(1, m + 1) / max(m, 1)
    reject = np.zeros(m, dtype=bool)
    if below.any():
        k = int(np.nonzero(below)[0][-1]) + 1
        reject[order[:k]] = True
    return reject


def correct(p: np.ndarray, method: str, alpha: float) -> np.ndarray:
    """Rejections under `method` ("bh" or "bonferroni")."""
    if method == "bh":
        return benjamini_hochberg(p, alpha)
    if method == "bonferroni":
        return bonferroni(p, alpha)
    raise ValueError(f"unknown multiple-testing method {method!r}")
