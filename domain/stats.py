"""Paired statistics on per-window NLL sums and the deterministic window bootstrap (BCa).

The resampling is pinned so that anyone can recompute a certificate's interval bit-for-bit from its
evidence: see docs/reference/statistics.md for the full recipe.
"""

from __future__ import annotations

import functools
import hashlib
import math

import msgspec
import numpy as np
from scipy.special import ndtr, ndtri  # = norm.cdf/norm.ppf bit for bit, without importing scipy.stats (1 s)

from .errors import AbortError, UsageError

GENERATOR = "shake256-u64-mod/v1"
_Z0_CLIP = 1e-6


class PairedSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Token-weighted paired comparison of one arm: log-NLLs, perplexities, mean Δ and the ratio."""

    windows: int
    tokens: int
    baseline_log_nll: float
    subject_log_nll: float
    baseline_ppl: float
    subject_ppl: float
    delta_mean: float
    ratio: float


class BootstrapInterval(msgspec.Struct, frozen=True, kw_only=True):
    """A log-space interval for Δ̄ and how it was computed."""

    method: str
    lo: float
    hi: float
    replicates: int
    alpha: float
    key: str


def _check_arrays(tokens: np.ndarray, *sums: np.ndarray) -> None:
    if len(tokens) < 2:
        raise UsageError(
            "E403", f"paired statistics need at least 2 windows, got {len(tokens)}", "plan at least 2 windows per arm"
        )
    if any(len(s) != len(tokens) for s in sums):
        raise UsageError(
            "E403", "evidence arrays have different lengths", "the evidence is corrupt; re-issue the certificate"
        )
    if np.any(tokens <= 0):
        raise UsageError("E403", "a window has no scored tokens", "the evidence is corrupt; re-issue the certificate")
    if not all(np.all(np.isfinite(s)) for s in sums):
        raise UsageError(
            "E403", "non-finite NLL sum in the evidence", "a model produced NaN/inf losses; check its weights"
        )


def finite_exp(x: float, what: str) -> float:
    """exp(x), or AbortError E402 naming `what` when it is no float64 (a mean loss above ~709 nats per token): a
    number a certificate cannot record."""
    try:
        return math.exp(x)
    except OverflowError:
        raise AbortError(
            "E402",
            f"the {what} overflows: exp({x:.6g}) is above the largest float64",
            "a model with a mean loss above 709 nats per token is broken; check its weights",
        ) from None


def paired_summary(tokens: np.ndarray, baseline_nll: np.ndarray, subject_nll: np.ndarray) -> PairedSummary:
    """Σ-based log-NLLs and PPLs, Δ̄ = logNLL_s − logNLL_b and ratio = exp(Δ̄) = PPL_s / PPL_b."""
    n = np.asarray(tokens, dtype=np.float64)
    lb = np.asarray(baseline_nll, dtype=np.float64)
    ls = np.asarray(subject_nll, dtype=np.float64)
    _check_arrays(n, lb, ls)
    with np.errstate(all="ignore"):
        total = float(n.sum())
        log_b, log_s = float(lb.sum()) / total, float(ls.sum()) / total
        delta = float((ls - lb).sum()) / total
    if not all(math.isfinite(v) for v in (total, log_b, log_s, delta)):
        raise UsageError(
            "E403",
            "the evidence's NLL sums or token counts overflow float64 when summed",
            "the evidence is corrupt; re-issue the certificate",
        )
    return PairedSummary(
        windows=len(n),
        tokens=int(n.sum()),
        baseline_log_nll=log_b,
        subject_log_nll=log_s,
        baseline_ppl=finite_exp(log_b, "baseline perplexity"),
        subject_ppl=finite_exp(log_s, "subject perplexity"),
        delta_mean=delta,
        ratio=finite_exp(delta, "perplexity ratio"),
    )


def bootstrap_key(seed: int, plan_digest: str, arm: str) -> bytes:
    """sha256("invarlock/bootstrap/v1" ‖ seed ‖ plan digest ‖ arm), hashed as raw bytes."""
    material = f"invarlock/bootstrap/v1\x00{seed}\x00{plan_digest}\x00{arm}".encode()
    return hashlib.sha256(material).digest()


@functools.lru_cache(maxsize=2)
def resample_indices(key: bytes, replicates: int, n: int) -> np.ndarray:
    """(B, n) window indices: little-endian u64 words of shake_256(key), reduced modulo n.

    Drawn once per (key, B, n) and shared, read-only: the primary metric's interval and the secondary
    metrics' intervals of the same arm resample the same windows."""
    words = np.frombuffer(hashlib.shake_256(key).digest(8 * replicates * n), dtype="<u8")
    indices = (words.reshape(replicates, n) % np.uint64(n)).astype(np.int64)
    indices.setflags(write=False)
    return indices


def _weighted_mean(n: np.ndarray, nd: np.ndarray, idx: np.ndarray) -> np.ndarray:
    # cumsum adds strictly left to right, so replicates are the same on every platform and numpy build.
    result: np.ndarray = np.cumsum(nd[idx], axis=1)[:, -1] / np.cumsum(n[idx], axis=1)[:, -1]
    return result


def check_bootstrap_settings(replicates: int, alpha: float) -> None:
    """UsageError E203 unless replicates >= 1 and 2^-53 < alpha < 1 (when a policy is made, and before a bootstrap)."""
    # 1 - alpha/2 must stay below 1 in float64 (alpha > 2^-53), or the upper level's quantile is infinite
    if replicates < 1 or not 0.0 < alpha < 1.0 or 1.0 - alpha / 2 == 1.0:
        raise UsageError(
            "E203",
            f"bootstrap needs replicates >= 1 and 2^-53 < alpha < 1 (got {replicates}, {alpha})",
            "fix the policy's replicates/alpha",
        )


def bca_interval(
    tokens: np.ndarray,
    baseline_nll: np.ndarray,
    subject_nll: np.ndarray,
    *,
    key: bytes,
    replicates: int,
    alpha: float,
) -> BootstrapInterval:
    """Window-level BCa interval of θ = Σ n_iΔ_i / Σ n_i in log space (percentile when the jackknife is flat).

    All Δ equal gives the degenerate interval [Δ̄, Δ̄].
    """
    check_bootstrap_settings(replicates, alpha)
    n = np.asarray(tokens, dtype=np.float64)
    lb = np.asarray(baseline_nll, dtype=np.float64)
    ls = np.asarray(subject_nll, dtype=np.float64)
    _check_arrays(n, lb, ls)
    with np.errstate(over="ignore", invalid="ignore"):  # an infinite difference fails the interval's check
        deltas = ls - lb
    return _weighted_bca(n, deltas, key=key, replicates=replicates, alpha=alpha)


def ratio_interval(
    weights: np.ndarray, values: np.ndarray, *, key: bytes, replicates: int, alpha: float
) -> BootstrapInterval:
    """Window-level BCa interval of θ = Σ x_i / Σ n_i (x_i a per-window sum over n_i positions, e.g. the KL
    sum or the top-1 agreements of window i), from the same index matrix as bca_interval for the same key.

    Raises:
        UsageError: E403 for fewer than 2 windows, unequal lengths, a window without positions or a
            non-finite value; E203 for bad replicates/alpha.
    """
    check_bootstrap_settings(replicates, alpha)
    n = np.asarray(weights, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    _check_arrays(n, x)
    return _weighted_bca(n, x, key=key, replicates=replicates, alpha=alpha)


def _weighted_bca(n: np.ndarray, nd: np.ndarray, *, key: bytes, replicates: int, alpha: float) -> BootstrapInterval:
    # Finite inputs can still overflow float64 on the way (sums near 1e308, counts near 2**63): the result is
    # checked instead of letting numpy print warnings and return a NaN bound.
    with np.errstate(all="ignore"):
        interval = _weighted_bca_unchecked(n, nd, key=key, replicates=replicates, alpha=alpha)
    if not (math.isfinite(interval.lo) and math.isfinite(interval.hi)):
        raise UsageError(
            "E403",
            "the bootstrap interval is not finite: the evidence's sums or token counts overflow float64",
            "the evidence is corrupt; re-issue the certificate",
        )
    return interval


def _weighted_bca_unchecked(
    n: np.ndarray, nd: np.ndarray, *, key: bytes, replicates: int, alpha: float
) -> BootstrapInterval:
    theta = float(nd.sum() / n.sum())
    per_window = nd / n
    if np.all(per_window == per_window[0]):
        return BootstrapInterval(
            method="degenerate", lo=theta, hi=theta, replicates=replicates, alpha=alpha, key=key.hex()
        )
    stats = _weighted_mean(n, nd, resample_indices(key, replicates, len(n)))
    z0 = float(ndtri(np.clip(np.count_nonzero(stats < theta) / replicates, _Z0_CLIP, 1 - _Z0_CLIP)))
    accel = _jackknife_acceleration(n, nd)
    method, levels = "percentile", (alpha / 2, 1 - alpha / 2)
    if accel is not None:
        method, levels = "bca", _bca_levels(z0, accel, alpha)
    lo, hi = np.quantile(stats, levels)
    return BootstrapInterval(
        method=method, lo=float(lo), hi=float(hi), replicates=replicates, alpha=alpha, key=key.hex()
    )


def _jackknife_acceleration(n: np.ndarray, nd: np.ndarray) -> float | None:
    loo = (nd.sum() - nd) / (n.sum() - n)
    dev = loo.mean() - loo
    denom = 6.0 * float((dev**2).sum()) ** 1.5
    if denom == 0.0 or not math.isfinite(denom):
        return None
    return float((dev**3).sum()) / float(denom)


def _bca_levels(z0: float, accel: float, alpha: float) -> tuple[float, float]:
    out = []
    for q in (alpha / 2, 1 - alpha / 2):
        zq = float(ndtri(q))
        denominator = 1 - accel * (z0 + zq)
        if not denominator > 0:  # the adjusted level wraps past 1 to 0: a narrower, inverted interval, not a wider one
            raise UsageError(
                "E203",
                f"the BCa interval is undefined at alpha {alpha!r} for this evidence (acceleration {accel:.4g}, bias"
                f" {z0:.4g}: 1 - a(z0 + z) = {denominator:.4g} at level {q!r})",
                "use a larger alpha (every tier uses 0.05)",
            )
        out.append(float(ndtr(z0 + (z0 + zq) / denominator)))
    return out[0], out[1]
