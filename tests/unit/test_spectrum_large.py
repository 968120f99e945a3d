"""The large-matrix path of the RMT measurement (min dimension above exact_max_dim): Lanczos top-k."""

from __future__ import annotations

import numpy as np
import scipy.linalg
from invarlock.domain.guards.spectrum import measure


def _spiked(m: int, n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((m, n))
    u, _ = np.linalg.qr(rng.standard_normal((m, k)))
    v, _ = np.linalg.qr(rng.standard_normal((n, k)))
    strengths = 2.5 * (m * n) ** 0.25 * (1.0 + 0.5 * np.arange(k))  # above the BBP threshold (mn)^(1/4)
    return noise + (u * strengths) @ v.T


def test_lanczos_path_finds_the_top_singular_value_and_counts_spikes():
    w = _spiked(400, 300, 3, seed=1)
    large = measure(w, exact_max_dim=100)
    exact = measure(w)
    assert large.sigma_method == "lanczos" and large.scale_method == "entry_mad"
    assert exact.sigma_method in ("power", "exact") and exact.scale_method == "mp_median"
    assert abs(large.sigma / scipy.linalg.svdvals(w)[0] - 1) < 1e-9
    assert large.outliers == exact.outliers == 3
    assert abs(exact.bulk_scale - 1.0) < 0.03  # median matching is barely moved by the spikes
    assert abs(large.bulk_scale - 1.0) < 0.1  # the entry MAD is, somewhat: the price of not computing a spectrum
