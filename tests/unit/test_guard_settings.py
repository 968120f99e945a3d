"""Guard settings are frozen Structs validated on construction, and the tier table resolves to them."""

from __future__ import annotations

import msgspec
import pytest
from invarlock.domain.errors import UsageError
from invarlock.domain.guards.settings import GuardSettings, SpectralSettings, VarianceSettings
from invarlock.domain.policy import PROFILES, TIERS, policy_from_dict, resolve_policy


def _balanced() -> GuardSettings:
    return resolve_policy("balanced", "ci").guards


@pytest.mark.parametrize(
    ("guard", "field", "value"),
    [
        ("spectral", "mode", "warn"),
        ("spectral", "alpha", 1.5),
        ("spectral", "alpha", 0.0),
        ("spectral", "correction", "holm"),
        ("spectral", "deadband", -0.1),
        ("rmt", "max_violations", -1),
        ("variance", "clamp", (1.12, 0.85)),
        ("variance", "sided", "both"),
        ("variance", "alpha", 1.0),
        ("invariants", "report_limit", 0),
    ],
)
def test_a_bad_setting_is_refused_naming_the_field(guard: str, field: str, value: object) -> None:
    settings = _balanced().of(guard)
    with pytest.raises(UsageError, match=f"{guard}.{field}") as err:
        msgspec.structs.replace(settings, **{field: value})
    assert err.value.code == "E202"


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        _balanced().spectral.deadband = 0.5  # type: ignore[misc]


def test_mode_of_names_each_guards_mode_and_rejects_unknown_guards() -> None:
    conservative = resolve_policy("conservative", "ci").guards
    assert [conservative.mode_of(g) for g in ("invariants", "spectral", "rmt", "variance")] == ["gate"] * 4
    assert _balanced().mode_of("spectral") == "monitor"
    with pytest.raises(ValueError, match="unknown guard"):
        _balanced().of("sparsity")


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_resolved_policy_round_trips_through_its_recorded_json(tier: str, profile: str) -> None:
    policy = resolve_policy(tier, profile, guard_overrides={"variance": {"targets": "all_ffn"}})
    assert policy_from_dict(msgspec.to_builtins(policy)) == policy
    assert isinstance(policy.guards.spectral, SpectralSettings)
    assert isinstance(policy.guards.variance, VarianceSettings) and policy.guards.variance.targets == "all_ffn"


def test_a_recorded_policy_with_a_bad_guard_setting_is_an_invalid_policy() -> None:
    data = msgspec.to_builtins(resolve_policy("balanced", "ci"))
    data["guards"]["spectral"]["alpha"] = 2.0
    with pytest.raises(UsageError) as err:
        policy_from_dict(data)
    assert err.value.code == "E601"
    data["guards"]["spectral"]["alpha"] = 0.05
    data["guards"]["spectral"]["surprise"] = 1
    with pytest.raises(UsageError, match="surprise"):
        policy_from_dict(data)
