"""embedding_cosine: the mean cosine with the primary metric's bootstrap, its policy section and its gates."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain import certificate as c
from invarlock.domain import stats
from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import EMBEDDING_COSINE, metric_for
from invarlock.domain.model import WindowComparison
from invarlock.domain.policy import policy_digest, policy_from_dict, re_resolve, resolve_policy

SEQ_LEN = 128


def _arm(cosines: list[float]) -> c.ArmEvidence:
    return c.ArmEvidence(
        window_ids=list(range(len(cosines))),
        window_digests=[f"d{i}" for i in range(len(cosines))],
        tokens_scored=[SEQ_LEN] * len(cosines),
        comparisons=[WindowComparison(window_id=i, positions=SEQ_LEN, cosine=v) for i, v in enumerate(cosines)],
    )


def _assess(preview: list[float], final: list[float] | None, tier: str = "balanced"):
    evidence = c.Evidence(preview=_arm(preview), final=None if final is None else _arm(final), plan=[])
    policy = resolve_policy(tier, "dev", section="embedding")
    return EMBEDDING_COSINE.assess(evidence, seed=7, plan_digest="plan", policy=policy), policy


def _near(centre: float, n: int, spread: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in np.clip(centre + spread * rng.standard_normal(n), -1.0, 1.0)]


def test_the_arm_statistic_is_the_mean_and_the_min_of_the_window_cosines():
    values = [0.9995, 0.9990, 0.9999, 0.9981]
    arm = EMBEDDING_COSINE.arm_statistic(_arm(values))
    assert arm.windows == 4 and arm.tokens == 4 * SEQ_LEN
    assert math.isclose(arm.mean_cosine, sum(values) / 4, rel_tol=1e-15) and arm.min_cosine == min(values)
    assert arm.ratio is None and arm.baseline_ppl is None
    assert EMBEDDING_COSINE.identity(arm)[0]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(min_value=-1.0, max_value=1.0, allow_nan=False), min_size=2, max_size=40), st.booleans())
def test_the_interval_is_the_primary_bootstrap_of_the_window_cosines_each_weighing_one(values, rolled_back):
    got, policy = _assess(values, None if rolled_back else values)
    key = stats.bootstrap_key(7, "plan", "preview" if rolled_back else "final")
    n = np.ones(len(values))
    want = stats.bca_interval(
        n, np.zeros(len(values)), np.asarray(values), key=key, replicates=policy.replicates, alpha=0.05
    )
    assert got.bootstrap.key == want.key and got.bootstrap.method == want.method
    assert got.primary.ci == (None if rolled_back else (want.lo, want.hi))
    assert got.primary.display_ci == got.primary.ci
    if not rolled_back:
        assert want.lo <= got.primary.final.mean_cosine + 1e-12 and got.primary.final.mean_cosine <= want.hi + 1e-12


def test_an_int8_like_subject_passes_balanced_and_an_int4_like_subject_fails_it():
    good, policy = _assess(_near(0.9995, 60, 0.0002, 1), _near(0.9995, 60, 0.0002, 2))
    bad, _ = _assess(_near(0.89, 60, 0.02, 3), _near(0.89, 60, 0.02, 4))
    good_flags, bad_flags = (EMBEDDING_COSINE.flags(a.primary, policy) for a in (good, bad))
    assert good_flags["primary_metric_acceptable"] == (True, "")
    ok, why = bad_flags["primary_metric_acceptable"]
    assert ok is False and "lower CI of the mean cosine" in why and "balanced limit 0.99" in why
    assert good_flags["token_floor_met"] == ("not_applicable", "")
    assert good_flags["preview_final_drift_acceptable"][0] is True


def test_preview_and_final_arms_that_disagree_fail_the_drift_gate():
    got, policy = _assess(_near(0.999, 30, 0.0001, 5), _near(0.95, 30, 0.0001, 6), tier="aggressive")
    ok, why = EMBEDDING_COSINE.flags(got.primary, policy)["preview_final_drift_acceptable"]
    assert got.primary.drift == pytest.approx(got.primary.final.mean_cosine - got.primary.preview.mean_cosine)
    assert ok is False and "drift" in why


def test_a_preview_mean_cosine_below_the_catastrophe_cosine_rolls_back():
    policy = resolve_policy("balanced", "dev", section="embedding")
    low = EMBEDDING_COSINE.arm_statistic(_arm([0.2, 0.3, 0.1]))
    high = EMBEDDING_COSINE.arm_statistic(_arm([0.9, 0.95, 0.97]))
    assert "catastrophe cosine 0.5" in (EMBEDDING_COSINE.catastrophe(low, policy) or "")
    assert EMBEDDING_COSINE.catastrophe(high, policy) is None


def test_without_the_embedding_policy_section_the_gate_fails_with_e601_never_passes():
    got, _ = _assess([0.99, 0.999, 0.998], [0.99, 0.999, 0.998])
    with pytest.raises(UsageError) as err:
        EMBEDDING_COSINE.flags(got.primary, resolve_policy("balanced", "dev"))
    assert err.value.code == "E601" and "embedding section" in err.value.message


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1.5, None])
def test_a_missing_non_finite_or_out_of_range_cosine_is_e403(bad):
    arm = _arm([0.99, 0.98, 0.97])
    rows = list(arm.comparisons or [])
    rows[1] = msgspec.structs.replace(rows[1], cosine=bad)
    with pytest.raises(UsageError) as err:
        EMBEDDING_COSINE.arm_statistic(msgspec.structs.replace(arm, comparisons=rows))
    assert err.value.code == "E403"


def test_an_arm_metric_with_perplexity_fields_or_min_above_mean_fails_the_identity():
    arm = EMBEDDING_COSINE.arm_statistic(_arm([0.99, 0.98, 0.97]))
    assert not EMBEDDING_COSINE.identity(msgspec.structs.replace(arm, ratio=1.0))[0]
    assert not EMBEDDING_COSINE.identity(msgspec.structs.replace(arm, min_cosine=0.999))[0]
    assert not EMBEDDING_COSINE.identity(msgspec.structs.replace(arm, mean_cosine=None))[0]
    assert not EMBEDDING_COSINE.identity(msgspec.structs.replace(arm, mean_cosine=1.00001, min_cosine=1.00001))[0]


def test_identical_models_cosines_rounded_above_one_pass_the_identity():
    """Identical models' embeddings give cosines of 1.0000000000000004 (the dot product's rounding), which the
    arm accepts; the identity check called such an honest certificate altered (exit 3: the kinds hunt)."""
    arm = EMBEDDING_COSINE.arm_statistic(_arm([1.0000000000000004] * 4))
    assert arm.mean_cosine is not None and arm.mean_cosine > 1.0
    assert EMBEDDING_COSINE.identity(arm) == (True, "-1 ≤ min cosine ≤ mean cosine ≤ 1, no other kind's fields")


def test_the_embedding_section_is_set_only_when_asked_and_survives_a_round_trip_and_re_resolve():
    plain, embedding = resolve_policy("balanced", "ci"), resolve_policy("balanced", "ci", section="embedding")
    assert plain.embedding is None and "embedding" not in msgspec.to_builtins(plain)
    assert embedding.embedding is not None and embedding.embedding.min_cosine == 0.99
    assert policy_digest(embedding) != policy_digest(plain)
    decoded = policy_from_dict(msgspec.to_builtins(embedding))
    assert decoded == embedding and re_resolve(decoded) == embedding
    loosened = msgspec.structs.replace(
        embedding, embedding=msgspec.structs.replace(embedding.embedding, min_cosine=0.5)
    )
    assert re_resolve(loosened) != loosened
    with pytest.raises(UsageError) as err:
        resolve_policy("balanced", "ci", section="nonsense")
    assert err.value.code == "E202"


def test_the_registry_knows_embedding_cosine_and_ppl_mlm_and_their_scored_tokens():
    assert metric_for("embedding_cosine").scored_tokens(128) == (128, "seq_len")
    assert metric_for("ppl_mlm").scored_tokens(128)[0] == 20  # ⌈0.15 · 128⌉
    assert metric_for("embedding_cosine").policy_section == "embedding"
    assert metric_for("ppl_mlm").policy_section is None and metric_for("ppl_causal").policy_section is None
