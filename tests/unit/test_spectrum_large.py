"""The large-matrix path of the RMT measurement (min dimension above exact_max_dim): Lanczos top-k, with a
bounded number of partial SVDs and an exact fallback."""

from __future__ import annotations

import math
import tracemalloc
from typing import Any
from unittest import mock

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain.guards import row_blocks, spectrum
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
    assert large.sigma_method == "lanczos" and large.scale_method == "mp_median_cols"
    assert exact.sigma_method in ("power", "exact") and exact.scale_method == "mp_median"
    assert abs(large.sigma / scipy.linalg.svdvals(w)[0] - 1) < 1e-9
    assert large.outliers == exact.outliers == 3
    assert abs(exact.bulk_scale - 1.0) < 0.03  # median matching is barely moved by the spikes
    # The large path matches the median of 50 sampled columns' spectrum: noisier, and the spikes weigh more
    # among 50 columns than among 300, but not by the 6 % the entry MAD used to read high here.
    assert abs(large.bulk_scale - 1.0) < 0.05


class _CountingEigsh:
    """Wraps scipy's eigsh and counts its calls, one per partial spectrum (the large path imports it at call
    time)."""

    def __init__(self) -> None:
        self.calls = 0
        self.inner = scipy.sparse.linalg.eigsh

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.inner(*args, **kwargs)


def _measure_counting(w: np.ndarray, **kwargs: Any) -> tuple[spectrum.MatrixMeasure, int]:
    counter = _CountingEigsh()
    with mock.patch.object(scipy.sparse.linalg, "eigsh", counter):
        return measure(w, **kwargs), counter.calls


def _sparse(m: int, n: int, zero_share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, n)).astype(np.float32)
    w[rng.random((m, n)) < zero_share] = 0.0
    return w


def test_the_lanczos_schedule_doubles_to_a_cap_so_the_number_of_partial_svds_is_bounded() -> None:
    cap_calls = math.ceil(math.log2(spectrum.LANCZOS_MAX_K / spectrum.LANCZOS_FIRST_K)) + 1
    for n in range(1, 5000, 7):
        ks = spectrum.lanczos_schedule(n)
        assert ks == sorted(set(ks)) and all(1 <= k <= n - 2 for k in ks)
        assert spectrum.lanczos_call_bound(n) == len(ks) <= cap_calls


def test_a_pruned_matrix_whose_entry_mad_is_zero_terminates_with_a_bounded_number_of_partial_svds() -> None:
    # More than half the entries zero: the MAD of all entries is 0. The loop of the entry-MAD scale then
    # doubled k up to n − 2 and called for a partial spectrum with that k forever.
    w = _sparse(90, 60, 0.7, seed=3)
    assert np.median(np.abs(w - np.median(w))) == 0.0
    measured, calls = _measure_counting(w, exact_max_dim=8)
    assert calls <= spectrum.lanczos_call_bound(60)
    assert measured.sigma == pytest.approx(float(scipy.linalg.svdvals(w.astype(np.float64))[0]), rel=1e-9)
    # The MP scale of an iid matrix with a share 0.3 of its entries kept is √0.3 times theirs; the sample of
    # 4 columns (exact_max_dim // 2) measures it within its noise.
    assert measured.scale_method == "mp_median_cols"
    assert measured.bulk_scale == pytest.approx(math.sqrt(0.3), rel=0.2)


def test_when_every_singular_value_is_an_outlier_the_schedule_ends_and_the_exact_spectrum_counts_them() -> None:
    # A large diagonal except in the one sampled column (exact_max_dim 3: 3 // 2 = 1 column), which holds
    # faint noise: the sample's scale is the noise's, 39 singular values are far above its edge, more than
    # the largest k (n − 2 = 38), so no k of the schedule reaches the bulk.
    rng = np.random.default_rng(5)
    n = 40
    w = np.diag(rng.uniform(50.0, 100.0, n)) + 1e-3 * rng.standard_normal((n, n))
    (sampled,) = spectrum.sample_columns(n, spectrum.scale_sample_cols(n, 3))
    w[:, sampled] = 1e-3 * rng.standard_normal(n)
    measured, calls = _measure_counting(w, exact_max_dim=3)
    assert calls == spectrum.lanczos_call_bound(n) == len(spectrum.lanczos_schedule(n))
    assert measured.sigma_method in ("power", "exact") and measured.spectrum_method == "gram_eigvalsh"
    assert measured.outliers == int(np.count_nonzero(scipy.linalg.svdvals(w) > measured.outlier_threshold))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    n=st.integers(min_value=3, max_value=40),
    extra_rows=st.integers(min_value=0, max_value=30),
    zero_share=st.floats(min_value=0.5, max_value=1.0),
    wide=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_sparse_matrices_above_the_exact_limit_are_measured_in_bounded_work(
    n: int, extra_rows: int, zero_share: float, wide: bool, seed: int
) -> None:
    w = _sparse(n + extra_rows, n, zero_share, seed)
    w = w.T if wide else w
    measured, calls = _measure_counting(w, exact_max_dim=2)
    assert calls <= spectrum.lanczos_call_bound(n)
    assert measured.iterations <= (calls if measured.sigma_method == "lanczos" else spectrum.POWER_MAX_ITER)
    exact = scipy.linalg.svdvals(w.astype(np.float64))
    assert measured.sigma == pytest.approx(float(exact[0]), rel=1e-6, abs=1e-12)
    assert measured.bulk_scale >= 0.0 and math.isfinite(measured.edge)
    if measured.sigma_method == "lanczos":
        # Lanczos stopped on a k-th value below the threshold, so no value it did not see is an outlier.
        assert measured.outliers == int(np.count_nonzero(exact > measured.outlier_threshold))


def test_the_partial_spectrum_by_row_blocks_is_svds_of_the_float64_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _spiked(700, 120, 4, seed=7).astype(np.float32)
    w64 = w.astype(np.float64)
    v0 = np.linspace(1.0, 2.0, 120)
    reference = np.sort(scipy.sparse.linalg.svds(w64, k=10, v0=v0, return_singular_vectors=False))[::-1]
    monkeypatch.setattr(row_blocks, "OPERATOR_BLOCK_BYTES", 8 * 120 * 33)  # 33 rows: 22 blocks, the last short
    monkeypatch.setattr(row_blocks, "GRAM_BLOCK_BYTES", 8 * 120 * 50)
    blocked = row_blocks.top_singular_values(w, 10, v0)
    assert blocked.shape == (10,) and np.all(np.diff(blocked) <= 0)
    assert np.max(np.abs(blocked / reference - 1)) < 1e-12
    assert np.max(np.abs(blocked / scipy.linalg.svdvals(w64)[:10] - 1)) < 1e-12


def test_the_large_path_holds_no_float64_copy_of_the_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _spiked(3000, 400, 3, seed=2).astype(np.float32)
    exact = measure(w)
    monkeypatch.setattr(row_blocks, "GRAM_BLOCK_BYTES", 64 * 1024)
    monkeypatch.setattr(row_blocks, "OPERATOR_BLOCK_BYTES", 64 * 1024)
    tracemalloc.start()
    try:
        large = measure(w, exact_max_dim=200)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert large.sigma_method == "lanczos" and large.outliers == exact.outliers == 3
    assert abs(large.sigma / exact.sigma - 1) < 1e-9
    # Before row blocks the path began with a float64 copy of the whole matrix: 2 × w.nbytes.
    assert peak < w.nbytes / 2
