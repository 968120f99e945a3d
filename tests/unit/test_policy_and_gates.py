"""Tier tables, the policy digest, and the gates' decisions (including missing values failing)."""

from __future__ import annotations

import functools

import msgspec
import pytest
from invarlock.domain import certificate as c
from invarlock.domain import gates
from invarlock.domain.errors import UsageError
from invarlock.domain.guards.sections import GuardSections, InvariantsSection
from invarlock.domain.model import ModelIdentity
from invarlock.domain.policy import (
    DEFAULT_GUARD_ORDER,
    Policy,
    policy_digest,
    policy_from_dict,
    re_resolve,
    resolve_policy,
)


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


_MODEL = ModelIdentity(
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
_GUARDS = GuardSections(invariants=InvariantsSection(mode="gate", phases={}, seconds=0.0, verdict="pass"))
_evaluate = functools.partial(gates.evaluate, overhead=None)
_BARE = ["invariants", "invariants"]


def _policy(tier: str, profile: str) -> Policy:
    """A policy whose guard chain is invariants only (what _GUARDS holds)."""
    return resolve_policy(tier, profile, guard_order=_BARE)


@pytest.mark.parametrize(("upper", "verdict"), [(1.10, "PASS"), (1.1000001, "FAIL"), (1.15, "FAIL")])
def test_balanced_gate_uses_the_upper_ci_bound(upper, verdict):
    flags, v = _evaluate(_pm(upper), _PAIR, _GUARDS, _MODEL, _MODEL, _policy("balanced", "ci"))
    assert v.status == verdict
    assert flags["primary_metric_acceptable"] is (verdict == "PASS")
    assert flags["guard_overhead_acceptable"] == "not_applicable"


def test_missing_final_arm_and_missing_guard_fail_never_pass():
    flags, v = _evaluate(
        _pm(1.0, preview_ratio=2.5, final=False),
        _PAIR,
        GuardSections(),
        _MODEL,
        _MODEL,
        resolve_policy("balanced", "ci"),
    )
    assert flags["catastrophe"] is True
    assert flags["primary_metric_acceptable"] is False
    assert flags["invariants_pass"] is False
    assert v.status == "FAIL"


def test_tokenizer_mismatch_fails_pairing():
    other = msgspec.structs.replace(_MODEL, tokenizer_sha256="u")
    flags, _ = _evaluate(_pm(1.0), _PAIR, _GUARDS, _MODEL, other, _policy("balanced", "ci"))
    assert flags["pairing_ok"] is False


def test_token_floor_applies_under_ci_but_not_dev():
    pm = msgspec.structs.replace(_pm(1.0), final=msgspec.structs.replace(_pm(1.0).final, tokens=1000))
    ci_flags, _ = _evaluate(pm, _PAIR, _GUARDS, _MODEL, _MODEL, _policy("balanced", "ci"))
    dev_flags, _ = _evaluate(pm, _PAIR, _GUARDS, _MODEL, _MODEL, _policy("balanced", "dev"))
    assert ci_flags["token_floor_met"] is False and ci_flags["primary_metric_acceptable"] is True
    assert dev_flags["token_floor_met"] == "not_applicable"


def test_window_floor_and_exact_interval_are_gated_under_ci_and_release_only():
    few = msgspec.structs.replace(_pm(1.0).final, windows=179)
    pm = msgspec.structs.replace(_pm(1.0), final=few, ci_approximate=True)
    for profile in ("ci", "release"):
        flags, v = _evaluate(pm, _PAIR, _GUARDS, _MODEL, _MODEL, _policy("balanced", profile))
        assert flags["window_floor_met"] is False and flags["ci_not_approximate"] is False
        assert {f.flag for f in v.failed} >= {"window_floor_met", "ci_not_approximate"} and v.status == "FAIL"
    flags, v = _evaluate(pm, _PAIR, _GUARDS, _MODEL, _MODEL, _policy("balanced", "dev"))
    assert flags["window_floor_met"] == flags["ci_not_approximate"] == "not_applicable" and v.status == "PASS"


def test_a_guard_the_tier_gates_but_that_did_not_run_fails_naming_it():
    policy = resolve_policy("conservative", "ci", guard_order=_BARE)
    assert set(policy.required_guards) == {"invariants", "spectral", "rmt", "variance"}
    flags, v = _evaluate(_pm(1.0), _PAIR, _GUARDS, _MODEL, _MODEL, policy)
    assert flags["spectral_stable"] is flags["rmt_stable"] is flags["variance_ok"] is False
    reasons = {f.flag: f.reason for f in v.failed}
    assert "guard spectral is gated at tier conservative but did not run" in reasons["spectral_stable"]
    assert v.status == "FAIL"
    balanced, _ = _evaluate(_pm(1.0), _PAIR, _GUARDS, _MODEL, _MODEL, _policy("balanced", "ci"))
    assert balanced["spectral_stable"] == "not_applicable"  # monitored at balanced and not in the order


def test_a_guard_in_the_order_that_did_not_run_fails_even_when_monitored():
    flags, v = _evaluate(_pm(1.0), _PAIR, _GUARDS, _MODEL, _MODEL, resolve_policy("balanced", "ci"))
    assert flags["spectral_stable"] is False and v.status == "PASS"  # monitor mode: reported, not gated


def test_the_guard_order_is_part_of_the_policy_its_digest_and_its_overrides():
    full, bare = resolve_policy("balanced", "ci"), _policy("balanced", "ci")
    assert full.guard_order == DEFAULT_GUARD_ORDER and "guard_order" not in full.overrides
    assert bare.overrides == {"guard_order": _BARE} and policy_digest(bare) != policy_digest(full)
    assert re_resolve(bare) == bare


def test_a_recorded_policy_must_be_its_tier_plus_its_overrides():
    policy = resolve_policy("balanced", "ci", {"ratio_limit": 1.2}, {"spectral": {"mode": "gate"}})
    assert re_resolve(policy) == policy and set(policy.overrides) == {"ratio_limit", "guards"}
    loosened = msgspec.structs.replace(policy, gates=msgspec.structs.replace(policy.gates, ratio_limit=100.0))
    assert re_resolve(loosened) != loosened


# Digests of every tier × profile as this release resolves them.
_RESOLVED_DIGESTS = {
    ("conservative", "dev"): "51d9368c90143552ce1194f9fc8e58678451e99c9582bbdf2d1e7e138034b826",
    ("conservative", "ci"): "7a39567685f3de8a2dedbbc02f665018e2158ba53d5923e5ca4f91597f9d625c",
    ("conservative", "release"): "c9d7c0ffb321b7101123becbbc1b5e41f8c440b99aee692862ac80f66570b1af",
    ("balanced", "dev"): "5cc8a5e1f1142afee4f5e51fb0d897046a236fe969ee4909276e9fb0f8f9e4b4",
    ("balanced", "ci"): "b7dc1a889624ef5c9f211a01df7b7f1e4cc1a5ca5849f1657f3736d2b543be7f",
    ("balanced", "release"): "d353dfd87acb15e2da04332f2b5555dcef3089ad010755091d040cb8806e435c",
    ("aggressive", "dev"): "0f0781a5827833a340901b3573918fa73910d5c724707261ddcd56bfce0a8a35",
    ("aggressive", "ci"): "f1c94e8c82b2a52eb5ef8827c6f20e9cdb19cdef19499150841727b72b8f2171",
    ("aggressive", "release"): "0bd81f0b58d0c2d8e0c55dd38f58bacf266a96bfdb20fd0f7c663b025ac05d74",
}
# As every release before 0.3.7 resolved them (typed settings and the deduplicated table of 0.3.x encode to the
# canonical JSON of the dict settings before them): spectral.power_max_iter 200 (CHANGED_DEFAULTS).
_DIGESTS_BEFORE_0_3_7 = {
    ("conservative", "dev"): "883e08c21c5a3a4c403783d89410dbe27754f18ae6ab94139c0a1f2af7c02a3b",
    ("conservative", "ci"): "8f40cd0408c8c3291f8bef461ffc8c4a48cdc0f25797847462e417080c6c7a12",
    ("conservative", "release"): "97e3ab887142b5b24d30a74395558d7a666f845ed9ee23b90b86986d863de0c1",
    ("balanced", "dev"): "eb9fedb3153eeb6c46438d80de78087ac8060ec6997b240212032031d329016f",
    ("balanced", "ci"): "0736699eb06dd77da805fed4879a262c1abae23b000ecb6121db58b09e5224b9",
    ("balanced", "release"): "753e2e874ee5e5c9356fc0dfb57fc4c8e6dcd12b87c804f09ae73eba029e0be0",
    ("aggressive", "dev"): "39ef15f2129849c475a01007ed0707110bc1cfc2763547d7c73adefea5e535b8",
    ("aggressive", "ci"): "dd45e68cee437cf571a66f89117cf21758e22639b05af6a430b448d0fefef5be",
    ("aggressive", "release"): "d85ba3e06d5ee45bf7ff36fb3c952e8eb14a678f98ef7af37ac7bd4ffa96c2ac",
}


@pytest.mark.parametrize(("tier", "profile"), sorted(_RESOLVED_DIGESTS))
def test_every_tier_and_profile_resolves_to_its_recorded_policy_digest(tier, profile):
    assert policy_digest(resolve_policy(tier, profile)) == _RESOLVED_DIGESTS[(tier, profile)]


@pytest.mark.parametrize(("tier", "profile"), sorted(_DIGESTS_BEFORE_0_3_7))
def test_a_policy_recorded_by_an_earlier_release_resolves_with_that_releases_table(tier, profile):
    earlier = re_resolve(resolve_policy(tier, profile), "0.3.6")
    assert policy_digest(earlier) == _DIGESTS_BEFORE_0_3_7[(tier, profile)]
    assert earlier.guards.spectral.power_max_iter == 200
    assert re_resolve(earlier, "0.3.6") == earlier and re_resolve(earlier, "0.3.7") != earlier


def test_an_unreadable_or_later_version_resolves_with_this_releases_table():
    current = resolve_policy("balanced", "ci")
    assert current.guards.spectral.power_max_iter == 0
    for version in (None, "", "0.3", "dev", "0.3.x"):
        assert re_resolve(current, version) == current
    assert re_resolve(current, "0.3.7.dev1") == current and re_resolve(current, "0.2.9") != current


def test_tiers_differ_only_in_limit_token_floor_and_ci_windows_and_replicates():
    gates = [msgspec.structs.asdict(resolve_policy(t, "ci").gates) for t in ("conservative", "balanced", "aggressive")]
    differing = {k for k in gates[0] if len({g[k] for g in gates}) > 1}
    assert differing == {"ratio_limit", "min_final_tokens", "min_windows_ci", "replicates_ci"}


def test_an_integer_override_of_a_float_threshold_keeps_the_digest_through_a_round_trip():
    policy = resolve_policy("balanced", "ci", {"ratio_limit": 2})
    decoded = policy_from_dict(msgspec.to_builtins(policy))
    assert policy.gates.ratio_limit == 2.0 and isinstance(policy.gates.ratio_limit, float)
    assert policy_digest(decoded) == policy_digest(policy)
    with pytest.raises(UsageError, match="min_final_tokens"):
        resolve_policy("balanced", "ci", {"min_final_tokens": 2.5})


@pytest.mark.parametrize(("profile", "key"), [("ci", "replicates_ci"), ("release", "replicates_release")])
def test_a_replicates_override_that_verify_and_replay_would_refuse_is_refused(profile: str, key: str) -> None:
    from invarlock.domain.policy import VERIFY_MAX_REPLICATES as MOST

    assert resolve_policy("balanced", profile, overrides={key: MOST}).replicates == MOST
    with pytest.raises(UsageError) as caught:
        resolve_policy("balanced", profile, overrides={key: MOST + 1})
    assert caught.value.code == "E202" and str(MOST) in caught.value.hint


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ({"spectral": {"mode": False}}, "guards.spectral.mode is false (YAML reads an unquoted on, off, yes or no"),
        ({"spectral": {"mode": None}}, "guards.spectral.mode is null"),
        ({"spectral": {"repair": "true"}}, "guards.spectral.repair is 'true'"),
    ],
)
def test_a_guard_setting_outside_its_choices_is_said_as_yaml_writes_it(setting: dict, said: str) -> None:
    """The configs hunt: `mode: off` read `is False — use one of: gate, monitor`, `repair: "true"` asked for True."""
    with pytest.raises(UsageError) as info:
        resolve_policy("balanced", "ci", guard_overrides=setting)
    assert info.value.code == "E202" and info.value.message.startswith(said), info.value.message
    assert "True" not in info.value.hint and "False" not in info.value.hint
