"""The large-matrix path's accuracy against the exact spectrum, within the bounds docs/assurance/guards.md
states ("Large-matrix path: cost and accuracy"), on matrices small enough for a unit test: the policy's
exact_max_dim is lowered so an 800 × 800 matrix takes the path a > 4096 one takes (with a column sample of
exact_max_dim // 2 columns for its bulk scale, as there)."""

from __future__ import annotations

import math

import msgspec
import numpy as np
from invarlock.application.certification.guard_chain import measure_matrix
from invarlock.domain.guards import spectrum
from invarlock.domain.policy import Policy, resolve_policy

N = 800
SCALE = 0.02
SPIKES = 2.0 * math.sqrt(N) * SCALE * (1.0 + 0.5 * np.arange(8))  # 2·(mn)^{1/4}·s and up: above BBP
# A trained-like low-rank part: 64 components with power-law strengths 6·(mn)^{1/4}·s·i^(−0.6), decaying
# through the BBP threshold into the bulk (about 20 above it), as in benchmarks/large_matrix.py.
POWER_LAW = 6.0 * math.sqrt(N) * SCALE * np.arange(1, 65, dtype=np.float64) ** -0.6
EPS = math.sqrt(np.finfo(np.float64).eps)


def _policy_with_exact_max_dim(limit: int) -> Policy:
    policy = resolve_policy("balanced", "ci")
    rmt = msgspec.structs.replace(policy.guards.rmt, exact_max_dim=limit)
    return msgspec.structs.replace(policy, guards=msgspec.structs.replace(policy.guards, rmt=rmt))


def _matrix(bulk: np.ndarray, strengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u, _ = np.linalg.qr(rng.standard_normal((N, len(strengths))))
    v, _ = np.linalg.qr(rng.standard_normal((N, len(strengths))))
    return (SCALE * bulk + (u * strengths) @ v.T).astype(np.float32)


def _planted(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return _matrix(rng.standard_normal((N, N)), SPIKES, rng)


def _heavy_tailed(seed: int) -> np.ndarray:
    # Student-t entries with 5 degrees of freedom scaled to unit variance: their MAD reads 17 % below their
    # standard deviation, which is what made the old entry-MAD scale count bulk values as outliers.
    rng = np.random.default_rng(seed)
    dof = 5.0
    return _matrix(rng.standard_t(dof, size=(N, N)) / math.sqrt(dof / (dof - 2.0)), POWER_LAW, rng)


def _allowance_share(measured: spectrum.MatrixMeasure) -> float:
    """The Tracy–Widom allowance as a share of the edge: how far above λ₊ the outlier threshold sits."""
    return measured.outlier_threshold / measured.edge - 1.0


def _assert_agrees_with_the_exact_path(w: np.ndarray) -> tuple[spectrum.MatrixMeasure, spectrum.MatrixMeasure]:
    large = measure_matrix(w, _policy_with_exact_max_dim(N - 1))
    exact = measure_matrix(w, resolve_policy("balanced", "ci"))
    assert large.scale_method == "mp_median_cols" and exact.scale_method == "mp_median"
    assert large.spectrum_method.startswith("lanczos_top")
    # σ_max: Lanczos converges the top Ritz value to float64 precision; bound √ε₆₄.
    assert abs(large.sigma / exact.sigma - 1) <= EPS
    # Bulk scale: within the TW allowance a of the exact path's (|ln ŝ_large/ŝ_exact| ≤ ln(1 + a)), so the
    # large path's outlier threshold lies between the exact path's edge λ₊ and λ₊·(1 + a)²: no value of the
    # exact bulk counts as an outlier. The entry-MAD scale used before missed this by 8 % (heavy-tailed) and
    # 15 % (planted) here.
    assert abs(math.log(large.bulk_scale / exact.bulk_scale)) <= math.log1p(_allowance_share(exact))
    # The edge ratio e = σ/λ₊ carries the inverse: ln e_large − ln e_exact = −ln(ŝ_large/ŝ_exact).
    ln_diff = math.log((large.sigma / large.edge) / (exact.sigma / exact.edge))
    assert abs(ln_diff + math.log(large.bulk_scale / exact.bulk_scale)) <= EPS
    # Outliers: the same count, give or take the one value that may lie between the two thresholds.
    assert abs(large.outliers - exact.outliers) <= 1
    return large, exact


def test_the_large_path_on_a_planted_spectrum_agrees_with_the_exact_path() -> None:
    large, exact = _assert_agrees_with_the_exact_path(_planted(seed=5))
    # Every planted spike clears both thresholds, nothing else does.
    assert large.outliers == exact.outliers == len(SPIKES)


def test_the_large_path_on_a_heavy_tailed_trained_like_matrix_agrees_with_the_exact_path() -> None:
    # The entry-MAD scale this path used before read 8 % low here and counted 28 outliers where the exact path
    # counted 12 (74 against 14 at n = 1500, docs/performance.md): its threshold sat inside the bulk.
    large, exact = _assert_agrees_with_the_exact_path(_heavy_tailed(seed=11))
    assert exact.outliers > 1  # the components above BBP are counted, so ±1 is a real comparison
    # k ended below the threshold within the schedule, with no exact fallback.
    assert int(large.spectrum_method.removeprefix("lanczos_top")) > large.outliers


def test_the_column_sample_is_fixed_distinct_and_of_the_stated_size() -> None:
    n, limit = 3000, 1000
    count = spectrum.scale_sample_cols(n, limit)
    assert count == limit // spectrum.SCALE_SAMPLE_DIVISOR
    cols = spectrum.sample_columns(n, count)
    assert len(np.unique(cols)) == count and cols[0] >= 0 and cols[-1] < n and np.all(np.diff(cols) > 0)
    assert np.array_equal(cols, spectrum.sample_columns(n, count))  # baseline and subject: the same columns
    assert spectrum.scale_sample_cols(10, limit) == 10 and spectrum.scale_sample_cols(n, 1) == 1
