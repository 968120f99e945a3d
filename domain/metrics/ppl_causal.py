"""`ppl_causal`: the token-weighted perplexity ratio of a causal LM, subject over baseline, on paired windows.

Per-window evidence is (tokens scored, baseline NLL sum, subject NLL sum); the paired statistic is
Δ̄ = Σ(ℓ_s − ℓ_b) / Σn with ratio exp(Δ̄) = PPL_s / PPL_b, and its interval the window-level BCa of
stats.bca_interval (docs/reference/statistics.md). The gates read the upper bound of the ratio.
"""

from __future__ import annotations

import math

import numpy as np

from .. import certificate as c
from ..policy import Policy
from ..stats import GENERATOR, bca_interval, bootstrap_key, finite_exp, paired_summary
from . import ppl_gates
from .base import Assessment


def _arrays(arm: c.ArmEvidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    baseline, subject = arm.nll()
    return (
        np.asarray(arm.tokens_scored, dtype=np.float64),
        np.asarray(baseline, dtype=np.float64),
        np.asarray(subject, dtype=np.float64),
    )


def _gated_arm(evidence: c.Evidence) -> tuple[str, c.ArmEvidence]:
    """The arm the interval is drawn from: final, or preview when the run rolled back before the final arm."""
    return ("final", evidence.final) if evidence.final is not None else ("preview", evidence.preview)


class PplCausal:
    """Perplexity of a causal LM: lower is better, gated on the upper bound of the ratio's interval."""

    kind = "ppl_causal"
    unit = "perplexity"
    direction = "lower_is_better"
    gating_basis = "upper"
    policy_section: str | None = None
    per_model_scores = True

    def arm_statistic(self, arm: c.ArmEvidence) -> c.ArmMetric:
        s = paired_summary(*_arrays(arm))
        return c.ArmMetric(
            windows=s.windows,
            tokens=s.tokens,
            baseline_ppl=s.baseline_ppl,
            subject_ppl=s.subject_ppl,
            delta_mean=s.delta_mean,
            ratio=s.ratio,
        )

    def assess(self, evidence: c.Evidence, *, seed: int, plan_digest: str, policy: Policy) -> Assessment:
        preview = self.arm_statistic(evidence.preview)
        final = self.arm_statistic(evidence.final) if evidence.final is not None else None
        arm_name, arm = _gated_arm(evidence)
        key = bootstrap_key(seed, plan_digest, arm_name)
        b = bca_interval(*_arrays(arm), key=key, replicates=policy.replicates, alpha=policy.gates.alpha)
        primary = c.PrimaryMetric(
            kind=self.kind,
            unit=self.unit,
            direction=self.direction,
            gating_basis=self.gating_basis,
            preview=preview,
            final=final,
            ratio_vs_baseline=final.ratio if final else None,
            ci=(b.lo, b.hi) if final else None,
            display_ci=(finite_exp(b.lo, "interval's low end"), finite_exp(b.hi, "interval's high end"))
            if final
            else None,
            drift=final.value("ratio") / preview.value("ratio") if final else None,
            ci_approximate=final is None or final.windows < policy.gates.min_windows_ci,
        )
        bootstrap = c.BootstrapSection(
            method=b.method, replicates=b.replicates, alpha=b.alpha, generator=GENERATOR, seed=seed, key=b.key
        )
        return Assessment(primary=primary, bootstrap=bootstrap)

    def scored_tokens(self, seq_len: int) -> tuple[int, str]:
        """A causal LM scores every token of a window but the first."""
        return seq_len - 1, "seq_len − 1"

    def identity(self, arm: c.ArmMetric) -> tuple[bool, str]:
        """ratio = exp(Δ̄) (to rounding of one exp) and = PPL_s / PPL_b (to rounding of two exps and a divide)."""
        try:
            ratio = arm.value("ratio")
            by_delta = math.isclose(ratio, math.exp(arm.value("delta_mean")), rel_tol=1e-12)
            ok = by_delta and math.isclose(ratio, arm.value("subject_ppl") / arm.value("baseline_ppl"), rel_tol=1e-9)
        except ArithmeticError:
            ok = False
        return ok, "ratio = exp(mean delta) = PPL_s / PPL_b"

    def flags(self, pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
        return ppl_gates.flags(pm, policy)

    def catastrophe(self, preview: c.ArmMetric, policy: Policy) -> str | None:
        return ppl_gates.catastrophe(preview, policy)

    def overhead(
        self, final: c.ArmEvidence, bare_subject: list[float], repaired: list[str], limit: float
    ) -> c.GuardOverhead:
        """PPL of the repaired subject over PPL of the bare subject on the final arm's windows."""
        tokens = np.asarray(final.tokens_scored, dtype=np.float64)
        s = paired_summary(tokens, np.asarray(bare_subject, dtype=np.float64), np.asarray(final.nll()[1]))
        return c.GuardOverhead(
            repaired_weights=sorted(repaired),
            bare_subject_nll=list(bare_subject),
            bare_ppl=s.baseline_ppl,
            guarded_ppl=s.subject_ppl,
            ratio=s.ratio,
            limit=limit,
        )


PPL_CAUSAL = PplCausal()
