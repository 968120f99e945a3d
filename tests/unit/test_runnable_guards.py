"""A guard the metric kind cannot run is not applicable where the tier gates it (since 0.3.11).

Tier conservative gates the variance guard, whose A/B pass compares each model's NLL sums: an embedding or
accuracy run cannot run it (E005 when asked), so every honest encoder or accuracy certificate failed
`variance_ok` at conservative, and the doctor's D921 advised adding variance, which is E005 (the kinds hunt).
Certificates of earlier releases keep the failed flag they were issued with, so they still verify."""

from __future__ import annotations

import numpy as np
import pytest
from invarlock.application.certification.preflight_notes import ungated_chain
from invarlock.domain import certificate as c
from invarlock.domain import gates
from invarlock.domain.guards.sections import GuardSections, InvariantsSection
from invarlock.domain.metrics import EMBEDDING_COSINE
from invarlock.domain.model import WindowComparison
from invarlock.domain.policy import resolve_policy

from tests.unit.test_policy_and_gates import _MODEL, _PAIR, _pm

_ORDER = ["invariants", "spectral", "rmt", "invariants"]  # an encoder's chain: no variance


def _arm(seed: int) -> c.ArmEvidence:
    cosines = np.clip(0.9995 + 0.0002 * np.random.default_rng(seed).standard_normal(60), -1.0, 1.0)
    return c.ArmEvidence(
        window_ids=list(range(60)),
        window_digests=[f"d{i}" for i in range(60)],
        tokens_scored=[128] * 60,
        comparisons=[WindowComparison(window_id=i, positions=128, cosine=float(v)) for i, v in enumerate(cosines)],
    )


def _guards() -> GuardSections:
    passed = InvariantsSection(mode="gate", phases={}, seconds=0.0, verdict="pass")
    return GuardSections(invariants=passed)


def _evaluate(released: str | None) -> tuple[dict[str, c.Flag], c.VerdictSection]:
    policy = resolve_policy("conservative", "dev", section="embedding", guard_order=_ORDER)
    evidence = c.Evidence(preview=_arm(1), final=_arm(2), plan=[])
    pm = EMBEDDING_COSINE.assess(evidence, seed=7, plan_digest="plan", policy=policy).primary
    return gates.evaluate(pm, _PAIR, _guards(), _MODEL, _MODEL, policy, overhead=None, released=released)


def test_the_variance_guard_is_not_applicable_to_a_kind_without_per_model_scores() -> None:
    assert gates.runnable_guards("embedding_cosine") == ("invariants", "spectral", "rmt")
    assert gates.runnable_guards("accuracy") == ("invariants", "spectral", "rmt")
    assert gates.runnable_guards("ppl_causal") == ("invariants", "spectral", "rmt", "variance")


@pytest.mark.parametrize("released", [None, "0.3.11"])
def test_an_encoder_certificate_at_conservative_is_not_failed_by_a_guard_it_cannot_run(released: str | None) -> None:
    flags, verdict = _evaluate(released)
    assert flags["variance_ok"] == "not_applicable"
    assert "variance_ok" not in {f.flag for f in verdict.failed}
    assert {f.flag for f in verdict.failed} == {"spectral_stable", "rmt_stable"}  # gated, runnable, did not run


def test_a_certificate_of_an_earlier_release_keeps_the_flag_it_was_issued_with() -> None:
    flags, verdict = _evaluate("0.3.10")
    assert flags["variance_ok"] is False
    reasons = {f.flag: f.reason for f in verdict.failed}
    assert reasons["variance_ok"] == "guard variance is gated at tier conservative but did not run"


def test_a_causal_run_still_fails_a_gated_variance_guard_it_left_out() -> None:
    policy = resolve_policy("conservative", "dev", guard_order=["invariants", "invariants"])
    flags, _ = gates.evaluate(_pm(1.0), _PAIR, _guards(), _MODEL, _MODEL, policy, overhead=None)
    assert flags["variance_ok"] is False


def test_the_doctor_warns_of_a_left_out_guard_only_where_the_kind_can_run_it() -> None:
    policy = resolve_policy("conservative", "dev", section="embedding", guard_order=_ORDER)
    assert ungated_chain(policy, "embedding_cosine") == []  # D921 advised adding variance, which is E005
    [warning] = ungated_chain(resolve_policy("conservative", "dev", guard_order=_ORDER), "ppl_causal")
    assert (
        warning.message == "guards.order leaves out variance, which tier conservative gates: the verdict will be FAIL"
    )
