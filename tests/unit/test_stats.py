"""Paired statistics and the deterministic BCa bootstrap, checked against an independent recipe."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain import stats
from invarlock.domain.errors import UsageError
from scipy.stats import norm


def _auditor_bca(n, lb, ls, seed, plan, arm, B, alpha):
    """Written from docs/reference/statistics.md alone, without calling the product's code."""
    key = hashlib.sha256(f"invarlock/bootstrap/v1\x00{seed}\x00{plan}\x00{arm}".encode()).digest()
    words = np.frombuffer(hashlib.shake_256(key).digest(8 * B * len(n)), dtype="<u8")
    idx = (words.reshape(B, len(n)) % np.uint64(len(n))).astype(np.int64)
    d = (ls - lb) / n
    theta = float(np.sum(n * d) / np.sum(n))
    reps = np.empty(B)
    for b in range(B):
        num = den = 0.0
        for j in idx[b]:
            num += n[j] * d[j]
            den += n[j]
        reps[b] = num / den
    z0 = norm.ppf(min(max(np.sum(reps < theta) / B, 1e-6), 1 - 1e-6))
    loo = np.array([(np.sum(n * d) - n[i] * d[i]) / (np.sum(n) - n[i]) for i in range(len(n))])
    dev = loo.mean() - loo
    a = np.sum(dev**3) / (6 * np.sum(dev**2) ** 1.5)
    levels = [norm.cdf(z0 + (z0 + norm.ppf(q)) / (1 - a * (z0 + norm.ppf(q)))) for q in (alpha / 2, 1 - alpha / 2)]
    return np.quantile(reps, levels)


def _sample(rng, k=24):
    n = rng.integers(100, 512, k).astype(float)
    lb = rng.normal(3.0, 0.3, k) * n
    ls = lb + rng.normal(0.003, 0.01, k) * n
    return n, lb, ls


def test_bca_matches_an_independent_implementation_of_the_documented_recipe():
    n, lb, ls = _sample(np.random.default_rng(1))
    key = stats.bootstrap_key(42, "plan", "final")
    ours = stats.bca_interval(n, lb, ls, key=key, replicates=300, alpha=0.05)
    lo, hi = _auditor_bca(n, lb, ls, 42, "plan", "final", 300, 0.05)
    assert ours.method == "bca"
    assert ours.lo == pytest.approx(lo, rel=1e-12) and ours.hi == pytest.approx(hi, rel=1e-12)


def test_ratio_equals_exp_of_mean_delta_and_ppl_quotient():
    n, lb, ls = _sample(np.random.default_rng(2))
    s = stats.paired_summary(n, lb, ls)
    assert s.ratio == pytest.approx(math.exp(s.delta_mean), rel=1e-15)
    assert s.ratio == pytest.approx(s.subject_ppl / s.baseline_ppl, rel=1e-12)


def test_all_equal_deltas_collapse_the_interval():
    n = np.full(10, 100.0)
    lb = np.full(10, 300.0)
    ci = stats.bca_interval(n, lb, lb + 1.0, key=b"k", replicates=100, alpha=0.05)
    assert (ci.method, ci.lo, ci.hi) == ("degenerate", 0.01, 0.01)


def test_interval_is_bit_identical_across_calls():
    n, lb, ls = _sample(np.random.default_rng(3))
    key = stats.bootstrap_key(1, "p", "final")
    a = stats.bca_interval(n, lb, ls, key=key, replicates=500, alpha=0.1)
    b = stats.bca_interval(n.copy(), lb.copy(), ls.copy(), key=key, replicates=500, alpha=0.1)
    assert a == b


@pytest.mark.parametrize(
    "bad",
    [
        dict(n=np.array([10.0]), lb=np.array([1.0]), ls=np.array([1.0])),
        dict(n=np.array([10.0, 10.0]), lb=np.array([1.0, np.nan]), ls=np.array([1.0, 1.0])),
        dict(n=np.array([10.0, 0.0]), lb=np.array([1.0, 1.0]), ls=np.array([1.0, 1.0])),
    ],
)
def test_thin_or_non_finite_evidence_is_an_error(bad):
    with pytest.raises(UsageError):
        stats.paired_summary(bad["n"], bad["lb"], bad["ls"])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(0, 10_000))
def test_interval_is_ordered_and_inside_the_range_of_window_deltas(k, seed):
    n, lb, ls = _sample(np.random.default_rng(seed), k)
    ci = stats.bca_interval(n, lb, ls, key=seed.to_bytes(4, "little"), replicates=200, alpha=0.05)
    d = (ls - lb) / n
    assert ci.lo <= ci.hi
    assert d.min() - 1e-12 <= ci.lo and ci.hi <= d.max() + 1e-12
