"""`accuracy`: paired classification accuracy of baseline and subject on labelled examples, in percentage points.

Per-example evidence is the comparison row (gold `label`, `baseline_pred`, `subject_pred`); correctness is
c = [pred = label] ∈ {0, 1}. An arm states both accuracies (%), Δ = 100 · Σ(c_s − c_b) / n (pp) and the
agreement 100 · #[pred_s = pred_b] / n. The interval is the example-level BCa of stats.bca_interval on the
per-example columns 100·c_b and 100·c_s with unit weights (docs/reference/statistics.md, "Classification
accuracy"); the gate reads its lower bound.
"""

from __future__ import annotations

import math

import numpy as np

from .. import certificate as c
from ..errors import IntegrityError, UsageError
from ..policy import Policy
from . import accuracy_gates as gates
from .base import Assessment
from .mean_difference import assess_mean_difference

_FIELDS = ("label", "baseline_pred", "subject_pred")


def columns(arm: c.ArmEvidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, baseline predictions, subject predictions) of an arm as int64 arrays.

    Raises:
        UsageError: E403 when the arm has no comparison rows, a row lacks a field, or a value is negative.
    """
    rows = arm.comparisons
    if rows is None or len(rows) != len(arm.window_ids):
        raise UsageError("E403", "an accuracy arm needs one comparison row per example", "re-issue the certificate")
    values = [[getattr(r, f) for f in _FIELDS] for r in rows]
    if any(v is None or v < 0 for row in values for v in row):
        raise UsageError(
            "E403", "an accuracy comparison row lacks a label or prediction (or has a negative one)", "re-issue it"
        )
    table = np.asarray(values, dtype=np.int64).reshape(len(rows), 3)
    return table[:, 0], table[:, 1], table[:, 2]


def _correct(arm: c.ArmEvidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels, base, subj = columns(arm)
    if len(labels) < 2:
        raise UsageError("E403", f"accuracy needs at least 2 examples per arm, got {len(labels)}", "plan more")
    return (base == labels).astype(np.float64), (subj == labels).astype(np.float64), (base == subj)


def _percent_correct(arm: c.ArmEvidence) -> tuple[np.ndarray, np.ndarray]:
    cb, cs, _ = _correct(arm)
    return 100.0 * cb, 100.0 * cs


class Accuracy:
    """Classification accuracy: higher is better, gated on the lower bound of Δaccuracy's interval (pp)."""

    kind = "accuracy"
    unit = "accuracy (pp)"
    direction = "higher_is_better"
    gating_basis = "lower"
    policy_section = "accuracy"
    per_model_scores = False  # its evidence is labels and predictions, no per-model NLL

    def arm_statistic(self, arm: c.ArmEvidence) -> c.ArmMetric:
        cb, cs, agree = _correct(arm)
        n = len(cb)
        return c.ArmMetric(
            windows=n,
            tokens=int(sum(arm.tokens_scored)),
            baseline_accuracy=100.0 * float(cb.sum()) / n,
            subject_accuracy=100.0 * float(cs.sum()) / n,
            delta_pp=100.0 * float((cs - cb).sum()) / n,
            agreement=100.0 * float(agree.sum()) / n,
        )

    def assess(self, evidence: c.Evidence, *, seed: int, plan_digest: str, policy: Policy) -> Assessment:
        return assess_mean_difference(
            self, evidence, _percent_correct, "delta_pp", seed=seed, plan_digest=plan_digest, policy=policy
        )

    def scored_tokens(self, seq_len: int) -> tuple[int, str]:
        """An example is one prediction, whatever its prompt's length."""
        return 1, "one prediction per example"

    def identity(self, arm: c.ArmMetric) -> tuple[bool, str]:
        """Δ = accuracy_s − accuracy_b (to rounding), every percentage in [0, 100], no perplexity fields."""
        try:
            b, s = arm.value("baseline_accuracy"), arm.value("subject_accuracy")
            d, agree = arm.value("delta_pp"), arm.value("agreement")
            ok = math.isclose(d, s - b, rel_tol=1e-12, abs_tol=1e-9) and all(0.0 <= v <= 100.0 for v in (b, s, agree))
            ok = ok and arm.tokens == arm.windows and arm.ratio is None and arm.baseline_ppl is None
            ok = ok and arm.mean_cosine is None and arm.min_cosine is None
        except (ArithmeticError, UsageError):
            ok = False
        return ok, "delta_pp = subject_accuracy − baseline_accuracy, percentages in [0, 100], one prediction each"

    def flags(self, pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
        return gates.flags(pm, policy)

    def catastrophe(self, preview: c.ArmMetric, policy: Policy) -> str | None:
        """Preview Δaccuracy below −catastrophe_pp: the run rolls back without scoring the final arm."""
        limit, delta = gates.accuracy_gates(policy).catastrophe_pp, preview.value("delta_pp")
        return f"preview Δaccuracy {delta:+.2f} pp < −{limit} pp" if delta < -limit else None

    def overhead(
        self, final: c.ArmEvidence, bare_subject: list[float], repaired: list[str], limit: float
    ) -> c.GuardOverhead:
        """Accuracy runs refuse repairing guards at config time (the overhead is a perplexity ratio)."""
        raise IntegrityError(
            "E604", "an accuracy run recorded guard repairs", "accuracy runs take no repairing guard (see config.md)"
        )


ACCURACY = Accuracy()
