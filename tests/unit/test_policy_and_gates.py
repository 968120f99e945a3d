"""Tier tables, the policy digest, and the gates' decisions (including missing values failing)."""

from __future__ import annotations

import functools

import msgspec
import pytest
from invarlock.domain import certificate as c
from invarlock.domain import gates
from invarlock.domain.errors import UsageError
from invarlock.domain.policy import policy_digest, resolve_policy


def test_tier_floors_are_the_documented_numbers():
    got = {
        t: (resolve_policy(t, "ci").min_windows, resolve_policy(t, "ci").replicates)
        for t in ("conservative", "balanced", "aggressive")
    }
    assert got == {"conservative": (220, 1500), "balanced": (180, 1200), "aggressive": (140, 800)}
    assert resolve_policy("balanced", "release").replicates == 3200


def test_any_threshold_change_changes_the_digest():
    base = policy_digest(resolve_policy("balanced", "ci"))
    assert policy_digest(resolve_policy("balanced", "ci")) == base
    assert policy_digest(resolve_policy("balanced", "ci", {"ratio_limit": 1.1000001})) != base
    assert policy_digest(resolve_policy("conservative", "ci")) != base


def test_unknown_tier_and_override_are_usage_errors():
    with pytest.raises(UsageError, match="unknown tier"):
        resolve_policy("lenient", "ci")
    with pytest.raises(UsageError, match="unknown policy override"):
        resolve_policy("balanced", "ci", {"ratio_limt": 1.2})


def _pm(upper: float, preview_ratio: float = 1.0, final: bool = True) -> c.PrimaryMetric:
    arm = c.ArmMetric(windows=200, tokens=60_000, baseline_ppl=40.0, subject_ppl=40.0, delta_mean=0.0, ratio=1.0)
    prev = msgspec.structs.replace(arm, ratio=preview_ratio)
    return c.PrimaryMetric(
        kind="ppl_causal",
        unit="perplexity",
        direction="lower_is_better",
        gating_basis="upper",
        preview=prev,
        final=arm if final else None,
        ratio_vs_baseline=1.0 if final else None,
        ci=(0.0, 0.0) if final else None,
        display_ci=(0.99, upper) if final else None,
        drift=1.0 if final else None,
        ci_approximate=False,
    )


_MODEL = c.ModelSection(
    ref="m",
    adapter="a",
    architecture="x",
    weights_sha256="w",
    tokenizer_sha256="t",
    config_sha256="c",
    param_count=1,
    dtype="float32",
    device="cpu",
)
_PAIR = c.PairingSection(match_fraction=1.0, overlap_fraction=0.0, paired_windows=400, reason=None)
_GUARDS = {"invariants": {"mode": "gate", "verdict": "pass"}}
_evaluate = functools.partial(gates.evaluate, order=["invariants", "invariants"], overhead=None)


@pytest.mark.parametrize(("upper", "verdict"), [(1.10, "PASS"), (1.1000001, "FAIL"), (1.15, "FAIL")])
def test_balanced_gate_uses_the_upper_ci_bound(upper, verdict):
    flags, v = _evaluate(_pm(upper), _PAIR, _GUARDS, _MODEL, _MODEL, resolve_policy("balanced", "ci"))
    assert v.status == verdict
    assert flags["primary_metric_acceptable"] is (verdict == "PASS")
    assert flags["guard_overhead_acceptable"] == "not_applicable"


def test_missing_final_arm_and_missing_guard_fail_never_pass():
    flags, v = _evaluate(
        _pm(1.0, preview_ratio=2.5, final=False), _PAIR, {}, _MODEL, _MODEL, resolve_policy("balanced", "ci")
    )
    assert flags["catastrophe"] is True
    assert flags["primary_metric_acceptable"] is False
    assert flags["invariants_pass"] is False
    assert v.status == "FAIL"


def test_tokenizer_mismatch_fails_pairing():
    other = msgspec.structs.replace(_MODEL, tokenizer_sha256="u")
    flags, _ = _evaluate(_pm(1.0), _PAIR, _GUARDS, _MODEL, other, resolve_policy("balanced", "ci"))
    assert flags["pairing_ok"] is False


def test_token_floor_applies_under_ci_but_not_dev():
    pm = msgspec.structs.replace(_pm(1.0), final=msgspec.structs.replace(_pm(1.0).final, tokens=1000))
    ci_flags, _ = _evaluate(pm, _PAIR, _GUARDS, _MODEL, _MODEL, resolve_policy("balanced", "ci"))
    dev_flags, _ = _evaluate(pm, _PAIR, _GUARDS, _MODEL, _MODEL, resolve_policy("balanced", "dev"))
    assert ci_flags["primary_metric_acceptable"] is False
    assert dev_flags["primary_metric_acceptable"] is True
