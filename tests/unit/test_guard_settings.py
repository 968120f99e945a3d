"""Guard settings are frozen Structs validated on construction, and the tier table resolves to them."""

from __future__ import annotations

import msgspec
import pytest
from invarlock.domain.errors import UsageError
from invarlock.domain.guards.settings import GuardSettings, SpectralSettings, VarianceSettings
from invarlock.domain.policy import PROFILES, TIERS, policy_digest, policy_from_dict, resolve_policy


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


# Digests of the policies as resolved before guard settings became Structs (dicts then): the typed table must
# encode to the same canonical JSON, so recorded runs keep their policy digest.
_PINNED = {
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


@pytest.mark.parametrize(("tier", "profile"), sorted(_PINNED))
def test_the_policy_digest_is_unchanged_by_typed_settings(tier: str, profile: str) -> None:
    assert policy_digest(resolve_policy(tier, profile)) == _PINNED[(tier, profile)]
