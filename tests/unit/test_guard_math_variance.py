"""The variance guard (GUARDS.md §4): proposals, the A/B gate and the verdict on hand-built statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain.guards import variance
from invarlock.domain.policy import THRESHOLD_TOLERANCE, resolve_policy
from invarlock.domain.stats import bootstrap_key

from tests.unit import guard_json

FAST = settings(max_examples=60, deadline=None, derandomize=True)
SLOW = settings(max_examples=25, deadline=None, derandomize=True)


def _guard(guard: str, tier: str = "balanced") -> Any:
    return resolve_policy(tier, "ci").guards.of(guard)


# ---------------------------------------------------------------------------------------------------------
# 6. Variance guard
# ---------------------------------------------------------------------------------------------------------

KEY = bootstrap_key(7, "plan", "calibration")
REPLICATES = 400


def test_variance_propose_keeps_and_steps_a_ten_percent_shrink() -> None:
    p = guard_json.propose(1.0, 0.9, _guard("variance"))
    assert p["ratio"] == pytest.approx(1 / 0.9)
    assert p["proposed"] == pytest.approx(1.1111111, rel=1e-6)
    assert p["kept"] is True
    assert p["applied"] == pytest.approx(1.03)


def test_variance_propose_ignores_a_shift_inside_the_deadband() -> None:
    p = guard_json.propose(1.005, 1.0, _guard("variance"))
    assert p["kept"] is False
    assert p["applied"] == 1.0
    assert p["proposed"] == pytest.approx(1.005)


@pytest.mark.parametrize(("std_b", "std_s"), [(0.98, 1.0), (1.02, 1.0), (0.49, 0.5), (1.53, 1.5), (2.04, 2.0)])
def test_variance_a_shift_equal_to_the_deadband_up_to_float_rounding_is_not_kept(std_b: float, std_s: float) -> None:
    s = _guard("variance")
    p = guard_json.propose(std_b, std_s, s)
    # In float64 the shift exceeds the deadband by a rounding error (|0.98 − 1| = 0.020000000000000018).
    assert abs(p["proposed"] - 1.0) != s.deadband
    assert abs(abs(p["proposed"] - 1.0) - s.deadband) < 1e-15
    assert p["kept"] is False and p["applied"] == 1.0
    tap = {"weight": "mlp.0", "baseline": _moments(std_b), "subject": _moments(std_s)}
    outcome = guard_json.variance_evaluate([tap], None, s, key=KEY, replicates=REPLICATES)
    assert outcome["verdict"] == "pass" and outcome["summary"]["proposed"] == 0


def test_variance_a_shift_just_beyond_the_deadband_is_kept() -> None:
    s = _guard("variance")
    assert guard_json.propose(0.9799, 1.0, s)["kept"] is True
    assert guard_json.propose(1.0201, 1.0, s)["kept"] is True
    assert variance.beyond(s.deadband + 2 * THRESHOLD_TOLERANCE, s.deadband)
    assert not variance.beyond(s.deadband + THRESHOLD_TOLERANCE / 2, s.deadband)


def _moments(std: float) -> dict[str, Any]:
    # Two values ±std: population std exactly `std` (mean 0, mean square std²).
    return {"count": 2, "sum": 0.0, "sum_sq": 2.0 * std * std}


@pytest.mark.parametrize(
    ("ratio", "proposed", "applied"), [(2.0, 1.12, 1.03), (0.5, 0.85, 0.97), (0.975, 0.975, 0.975)]
)
def test_variance_propose_clamps_the_ratio_and_limits_the_step(ratio: float, proposed: float, applied: float) -> None:
    p = guard_json.propose(ratio, 1.0, _guard("variance"))
    assert p["proposed"] == pytest.approx(proposed)
    assert p["kept"] is True
    assert p["applied"] == pytest.approx(applied)


def test_variance_propose_on_a_zero_subject_std_has_no_ratio_and_clamps_high() -> None:
    p = guard_json.propose(1.0, 0.0, _guard("variance"))
    assert p["ratio"] is None
    assert p["proposed"] == 1.12
    assert p["applied"] == pytest.approx(1.03)


@FAST
@given(st.floats(min_value=0.01, max_value=100.0), st.floats(min_value=0.01, max_value=100.0))
def test_variance_propose_invariants(std_b: float, std_s: float) -> None:
    s = _guard("variance")
    p = guard_json.propose(std_b, std_s, s)
    lo, hi = s.clamp
    assert lo <= p["proposed"] <= hi
    shift, tol = abs(p["proposed"] - 1), THRESHOLD_TOLERANCE
    assert p["kept"] == (shift > s.deadband + tol and shift >= s.min_abs_adjust - tol)
    assert abs(p["applied"] - 1) <= s.max_scale_step + 1e-15
    if p["kept"]:
        # The applied scale moves towards the proposal, never past it.
        assert (p["applied"] - 1) * (p["proposed"] - 1) > 0
        assert abs(p["applied"] - 1) <= abs(p["proposed"] - 1) + 1e-15
    else:
        assert p["applied"] == 1.0


def _ab(improvement: float, noise: float, seed: int = 0, windows: int = 40) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(200, 400, size=windows).astype(float)
    without = tokens * (3.0 + 0.2 * rng.standard_normal(windows))
    with_ve = without - improvement * tokens + noise * tokens * rng.standard_normal(windows)
    return {"tokens": tokens.tolist(), "nll_without": without.tolist(), "nll_with": with_ve.tolist()}


def test_variance_ab_gate_enables_on_a_clear_consistent_improvement() -> None:
    gate = guard_json.ab_gate(_ab(0.01, 0.001), _guard("variance"), key=KEY, replicates=REPLICATES)
    assert gate["enabled"] is True
    assert gate["mean_delta"] == pytest.approx(-0.01, abs=0.001)
    assert gate["ci"][0] <= gate["mean_delta"] <= gate["ci"][1] < -_guard("variance").min_effect


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_variance_ab_gate_stays_off_without_an_improvement(seed: int) -> None:
    gate = guard_json.ab_gate(_ab(0.0, 0.002, seed=seed), _guard("variance"), key=KEY, replicates=REPLICATES)
    assert gate["enabled"] is False
    assert gate["ci"][0] < 0.0 < gate["ci"][1]


def test_variance_ab_gate_two_sided_conservative_needs_the_mean_beyond_min_effect() -> None:
    conservative = _guard("variance", "conservative")
    assert (conservative.sided, conservative.min_effect) == ("two", 0.016)
    small = guard_json.ab_gate(_ab(0.01, 0.001), conservative, key=KEY, replicates=REPLICATES)
    assert small["ci"][1] < 0.0  # the interval excludes 0 …
    assert small["enabled"] is False  # … but the mean −0.01 is not below −0.016
    large = guard_json.ab_gate(_ab(0.03, 0.001), conservative, key=KEY, replicates=REPLICATES)
    assert large["mean_delta"] < -0.016
    assert large["enabled"] is True
    # Aggressive is one-sided with min_effect 0.033: 0.01 is not enough, 0.05 is.
    aggressive = _guard("variance", "aggressive")
    assert guard_json.ab_gate(_ab(0.01, 0.001), aggressive, key=KEY, replicates=REPLICATES)["enabled"] is False
    assert guard_json.ab_gate(_ab(0.05, 0.001), aggressive, key=KEY, replicates=REPLICATES)["enabled"] is True


def _stats(std: float, count: int = 4096, mean: float = 0.25) -> dict[str, float]:
    return {"count": count, "sum": mean * count, "sum_sq": count * (std * std + mean * mean)}


def test_variance_std_of_recovers_the_population_std() -> None:
    assert guard_json.std_of(_stats(0.7)) == pytest.approx(0.7, rel=1e-12)
    with pytest.raises(ValueError):
        guard_json.std_of({"count": 0, "sum": 0.0, "sum_sq": 0.0})


def test_variance_evaluate_fails_naming_the_shifted_tap_and_applies_nothing_when_ab_rejects() -> None:
    taps = [
        {"weight": "h.3.mlp.c_proj.weight", "baseline": _stats(1.0), "subject": _stats(0.9), "repaired": _stats(0.927)},
        {"weight": "h.4.mlp.c_proj.weight", "baseline": _stats(1.0), "subject": _stats(1.001)},
    ]
    outcome = guard_json.variance_evaluate(taps, _ab(0.0, 0.002), _guard("variance"), key=KEY, replicates=REPLICATES)
    assert outcome["verdict"] == "fail"
    assert [v["name"] for v in outcome["violations"]] == ["h.3.mlp.c_proj.weight"]
    assert outcome["violations"][0]["residual_shift"] == pytest.approx(1 / 0.9 - 1)
    assert outcome["applied"] == {}
    assert outcome["ab"]["enabled"] is False
    assert outcome["scales"][0]["std_final"] == pytest.approx(0.9)  # the repaired statistics are not used
    assert outcome["summary"] == {"taps": 2, "proposed": 1, "enabled": False, "violations": 1}


def test_variance_evaluate_passes_when_the_enabled_repair_removes_the_shift() -> None:
    # std ratio 1/0.98 = 1.0204: kept (> deadband 0.02) and within one step; the repaired tap matches baseline.
    taps = [{"weight": "layers.1.mlp.down_proj.weight", "baseline": _stats(1.0), "subject": _stats(0.98)}]
    taps[0]["repaired"] = _stats(1.0)
    settings_ = _guard("variance")
    enabled = guard_json.variance_evaluate(taps, _ab(0.01, 0.001), settings_, key=KEY, replicates=REPLICATES)
    assert enabled["summary"]["enabled"] is True
    assert enabled["applied"] == {"layers.1.mlp.down_proj.weight": pytest.approx(1 / 0.98)}
    assert enabled["verdict"] == "pass"
    assert enabled["scales"][0]["std_final"] == pytest.approx(1.0)
    rejected = guard_json.variance_evaluate(taps, _ab(0.0, 0.002), settings_, key=KEY, replicates=REPLICATES)
    assert rejected["applied"] == {}
    assert rejected["verdict"] == "fail"  # the unrepaired shift 0.0204 exceeds the deadband
    no_ab = guard_json.variance_evaluate(taps, None, settings_, key=KEY, replicates=REPLICATES)
    assert no_ab["ab"] is None
    assert no_ab["applied"] == {}
