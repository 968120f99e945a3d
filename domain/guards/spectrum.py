"""Singular-value measurements of one weight matrix on plain numpy arrays (docs/assurance/guards.md §1)."""

from __future__ import annotations

import math

import msgspec
import numpy as np

from . import row_blocks
from .marchenko_pastur import mp_quantile_singular

POWER_TOL = 1e-6
POWER_MAX_ITER = 200
EXACT_MAX_DIM = 4096
TW_QUANTILE = 4.0
LANCZOS_FIRST_K = 8
LANCZOS_MAX_K = 256
# The large path's bulk scale is measured on a random column sample of exact_max_dim // SCALE_SAMPLE_DIVISOR
# columns, drawn with a fixed seed so that baseline and subject (same shape) use the same columns.
SCALE_SAMPLE_DIVISOR = 2
SCALE_SAMPLE_SEED = 20261130
# Gram eigenvalues resolve singular values only down to about √ε₆₄·σ_max (eigenvalue error ~ε₆₄·σ_max²); the
# zero part of rank-deficient float32 matrices measures ≤ 1.8·√ε₆₄·σ_max, the smallest genuine singular value
# of the demo model 1.3e-6·σ_max (docs/assurance/guards.md). 16·√ε₆₄ = 2⁻²² sits between them.
RANK_RTOL = 2.0**-22


class PowerResult(msgspec.Struct, frozen=True, kw_only=True):
    """Largest singular value by power iteration: the estimate, iterations used and the last relative change."""

    sigma: float
    iterations: int
    residual: float
    converged: bool


# What a measurement records when no power iteration ran (max_iter 0): iterations 0, residual 0.0, σ not kept.
_NOT_RUN = PowerResult(sigma=0.0, iterations=0, residual=0.0, converged=False)


def tall(array: np.ndarray) -> np.ndarray:
    """The matrix oriented with at least as many rows as columns (m >= n)."""
    return array if array.shape[0] >= array.shape[1] else array.T


def _start_vector(n: int) -> np.ndarray:
    # Deterministic and not orthogonal to any structured top singular vector: a fixed irrational ramp.
    v = np.cos(np.arange(1, n + 1, dtype=np.float64) * (math.pi / math.sqrt(2.0))) + 1.0 / math.sqrt(n)
    return np.asarray(v / np.linalg.norm(v))


def gram(array: np.ndarray) -> np.ndarray:
    """WᵀW of the tall orientation in float64 (n×n, n = the smaller dimension), summed over row blocks
    (row_blocks.gram): no float64 copy of the whole matrix is held."""
    return row_blocks.gram(tall(np.asarray(array)))


def power_sigma(g: np.ndarray, *, tol: float = POWER_TOL, max_iter: int = POWER_MAX_ITER) -> PowerResult:
    """σ_max from the Gram matrix `g` = WᵀW by power iteration from a fixed start vector.

    Stops when the estimate changes by less than `tol` relative *and* the eigen-residual
    ‖Gv − θv‖/θ is below 2·tol: by Bauer–Fike an eigenvalue lies within that residual of θ, so σ = √θ is
    then within `tol` of a singular value. A small spectral gap makes the change criterion alone stop
    early on a wrong value (seen on SmolLM2 value projections: 1 % low after 102 iterations)."""
    v = _start_vector(g.shape[0])
    sigma, change, residual = 0.0, math.inf, math.inf
    for iteration in range(1, max_iter + 1):
        x = g @ v
        theta = float(v @ x)
        if theta <= 0.0:
            return PowerResult(sigma=0.0, iterations=iteration, residual=0.0, converged=True)
        residual = float(np.linalg.norm(x - theta * v)) / theta
        estimate = math.sqrt(theta)
        change = abs(estimate - sigma) / estimate
        sigma, v = estimate, x / float(np.linalg.norm(x))
        if change < tol and residual < 2 * tol:
            return PowerResult(sigma=sigma, iterations=iteration, residual=residual, converged=True)
    return PowerResult(sigma=sigma, iterations=max_iter, residual=residual, converged=False)


def singular_values(g: np.ndarray) -> np.ndarray:
    """All singular values, descending, from the Gram matrix `g` = WᵀW (float64 eigenvalues).

    Exact to float64 rounding at the top and middle of the spectrum (what the guards use) and several
    times faster than an SVD of the float32 matrix."""
    eig = np.linalg.eigvalsh(g)
    return np.asarray(np.sqrt(np.clip(eig[::-1], 0.0, None)))


def numerical_rank(values: np.ndarray) -> int:
    """How many singular values (descending, from `singular_values`) exceed RANK_RTOL·σ_max: the rest are
    below what the Gram eigenvalues resolve, rounding noise of a rank-deficient matrix."""
    top = float(values[0]) if len(values) else 0.0
    if top <= 0.0:
        return 0
    return int(np.count_nonzero(values > top * RANK_RTOL))


def bulk_scale(values: np.ndarray, m: int, n: int) -> float:
    """Per-entry scale s of the Marchenko–Pastur bulk from the descending singular values of an m×n (m ≥ n)
    matrix: the median of the r numerically non-zero values matched to the MP quantile 1 − r/(2n) (where the
    median of the top r of n MP values sits). Full rank (r = n) is plain median matching; 0 for a zero matrix.
    Rank deficiency would otherwise make the median a rounding-noise value (docs/assurance/guards.md)."""
    r = numerical_rank(values)
    if r == 0:
        return 0.0
    q = 0.5 if r == n else 1.0 - r / (2 * n)
    return float(np.median(values[:r])) / (math.sqrt(m) * mp_quantile_singular(n / m, q))


class MatrixMeasure(msgspec.Struct, frozen=True, kw_only=True):
    """What the spectral and RMT guards record for one matrix of one model.

    `sigma` is the largest singular value (`sigma_method` "exact": the spectrum's top value, as every run since
    0.3.7 measures it by default; "power" where a policy with `power_max_iter` >= 1 asked for power iteration
    and it converged to that value); `bulk_scale` is the per-entry scale s of the Marchenko–Pastur bulk
    (`scale_method` "mp_median": the median singular value matched to the MP median; "mp_median_cols" for
    very large matrices: the same on a seeded column sample; "entry_mad" in runs recorded before that),
    `edge` λ₊ = s(√m + √n), and `outliers` = singular values above `outlier_threshold`, the edge plus a
    Tracy–Widom fluctuation allowance s·q·(1/√m + 1/√n)^{1/3}/2 (q a TW1 quantile): the top singular value
    of a pure-noise matrix fluctuates around λ₊ on that scale and exceeds λ₊ itself in
    roughly one draw in six, which must not count as an outlier."""

    rows: int
    cols: int
    sigma: float
    sigma_method: str
    iterations: int
    residual: float
    bulk_scale: float
    scale_method: str
    spectrum_method: str
    edge: float
    outlier_threshold: float
    outliers: int


def outlier_threshold(scale: float, m: int, n: int, tw_quantile: float) -> float:
    """λ₊ plus the Tracy–Widom allowance: s·(√m + √n + q·(1/√m + 1/√n)^{1/3} / 2)."""
    allowance = tw_quantile * math.pow(1 / math.sqrt(m) + 1 / math.sqrt(n), 1 / 3) / 2
    return float(scale * (math.sqrt(m) + math.sqrt(n) + allowance))


def measure(
    array: np.ndarray,
    *,
    tol: float = POWER_TOL,
    max_iter: int = POWER_MAX_ITER,
    exact_max_dim: int = EXACT_MAX_DIM,
    tw_quantile: float = TW_QUANTILE,
) -> MatrixMeasure:
    """Measure one 2-D weight (any orientation; it is measured on the tall orientation m ≥ n).

    Matrices whose smaller side exceeds `exact_max_dim` take the Lanczos path (at most
    `lanczos_call_bound(n)` partial SVDs, and one spectrum of `scale_sample_cols` columns for the bulk scale),
    falling back to the exact spectrum when the sample gives no scale or the outliers do not end within the
    largest k; either way the work is bounded."""
    if min(np.shape(array)) > exact_max_dim:
        large = _measure_large(np.asarray(array), tw_quantile, scale_sample_cols(min(np.shape(array)), exact_max_dim))
        if large is not None:
            return large
    return _measure_exact(np.asarray(array), tol=tol, max_iter=max_iter, tw_quantile=tw_quantile)


def _measure_exact(array: np.ndarray, *, tol: float, max_iter: int, tw_quantile: float) -> MatrixMeasure:
    m, n = tall(array).shape
    g = gram(array)
    values = singular_values(g)
    # max_iter 0 (the policy's default since 0.3.7): σ is the spectrum's top value, which the spectrum computes
    # anyway; power iteration ran before that and is kept for the policies that still ask for it (and for
    # re-executing the runs they recorded).
    power = power_sigma(g, tol=tol, max_iter=max_iter) if max_iter > 0 else _NOT_RUN
    top = float(values[0])
    # A start vector that happens to be another singular vector "converges" to the wrong value; the full
    # spectrum is at hand, so power iteration's answer is only kept when it is the largest singular value.
    use_power = power.converged and abs(power.sigma - top) <= 10 * tol * top
    sigma = power.sigma if use_power else top
    scale = bulk_scale(values, m, n)
    edge = scale * (math.sqrt(m) + math.sqrt(n))
    threshold = outlier_threshold(scale, m, n, tw_quantile)
    return MatrixMeasure(
        rows=m,
        cols=n,
        sigma=sigma,
        sigma_method="power" if use_power else "exact",
        iterations=power.iterations,
        residual=power.residual,
        bulk_scale=scale,
        scale_method="mp_median",
        spectrum_method="gram_eigvalsh",
        edge=edge,
        outlier_threshold=threshold,
        outliers=int(np.count_nonzero(values > threshold)),
    )


def lanczos_schedule(n: int) -> list[int]:
    """The k of each partial SVD on the large path for an m×n (m ≥ n) matrix: doubling from LANCZOS_FIRST_K
    up to min(n − 2, LANCZOS_MAX_K), each k larger than the one before (empty when n < 3)."""
    cap = min(n - 2, LANCZOS_MAX_K)
    ks: list[int] = []
    k = min(LANCZOS_FIRST_K, cap)
    while k >= 1 and (not ks or k > ks[-1]):
        ks.append(k)
        k = min(2 * k, cap)
    return ks


def lanczos_call_bound(n: int) -> int:
    """The most partial SVDs the large path makes: ⌈log₂(LANCZOS_MAX_K / LANCZOS_FIRST_K)⌉ + 1 at most."""
    return len(lanczos_schedule(n))


def scale_sample_cols(n: int, exact_max_dim: int) -> int:
    """How many columns the large path's bulk scale is measured on: half the exact path's largest side (at
    least 1, at most n), so that the sample's spectrum costs at most an eighth of the largest exact one."""
    return min(n, max(1, exact_max_dim // SCALE_SAMPLE_DIVISOR))


def sample_columns(n: int, count: int) -> np.ndarray:
    """`count` distinct column indices of n, ascending: a uniformly random subset fixed by SCALE_SAMPLE_SEED.
    Drawn from PCG64's raw stream (stable across numpy versions, unlike Generator.choice), ties broken by
    index."""
    keys = np.random.PCG64(SCALE_SAMPLE_SEED).random_raw(n)
    return np.sort(np.argsort(keys, kind="stable")[:count])


def sampled_bulk_scale(w: np.ndarray, count: int) -> float:
    """The exact path's bulk scale (`bulk_scale`, MP median matching) on `count` seeded random columns of the
    tall matrix `w` (m×n): an m×n' column subset of an iid matrix is iid with the same entry scale, so its
    spectrum follows Marchenko–Pastur with ratio n'/m and the same s, whatever the entries' tails."""
    m, n = w.shape
    columns = sample_columns(n, count) if count < n else None
    return bulk_scale(singular_values(row_blocks.gram(w, columns)), m, min(count, n))


def _measure_large(array: np.ndarray, tw_quantile: float, sample_cols: int) -> MatrixMeasure | None:
    # Above exact_max_dim a full spectrum is too costly: the bulk scale comes from the spectrum of a column
    # sample (median matched as on the exact path, so heavy tails and spikes bias it no more than there) and
    # the top of the spectrum from Lanczos, growing k until the k-th singular value falls below the
    # threshold. None (measure exactly) when the sample gives no scale or the largest k still ends above the
    # threshold.
    w = tall(array)
    m, n = w.shape
    scale = sampled_bulk_scale(w, sample_cols)
    if scale <= 0.0:
        return None
    threshold = outlier_threshold(scale, m, n, tw_quantile)
    v0 = _start_vector(n)
    schedule = lanczos_schedule(n)
    for calls, k in enumerate(schedule, start=1):
        top = row_blocks.top_singular_values(w, k, v0)
        if top[-1] < threshold:
            return MatrixMeasure(
                rows=m,
                cols=n,
                sigma=float(top[0]),
                sigma_method="lanczos",
                iterations=calls,
                residual=0.0,
                bulk_scale=scale,
                scale_method="mp_median_cols",
                spectrum_method=f"lanczos_top{k}",
                edge=scale * (math.sqrt(m) + math.sqrt(n)),
                outlier_threshold=threshold,
                outliers=int(np.count_nonzero(top > threshold)),
            )
    return None
