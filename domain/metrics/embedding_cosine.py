"""`embedding_cosine`: how closely an encoder's subject embeddings follow the baseline's on paired texts.

Per-window evidence is the cosine of the two models' pooled, L2-normalised embeddings of the window's text
(`ArmEvidence.comparisons[i].cosine`, no NLL columns). The arm statistic is the mean cosine over windows
(each window weighs one) and the smallest; the interval is the window-level BCa of stats.bca_interval with
every window weighing 1 and Δ_i = cos_i, so θ = mean cosine and the resampling is the primary metric's own
(same key, same generator). Higher is better; the gate reads the lower bound (docs/reference/statistics.md).
"""

from __future__ import annotations

import numpy as np

from .. import certificate as c
from ..errors import UsageError
from ..policy import Policy
from . import embedding_gates
from .base import Assessment
from .mean_difference import assess_mean_difference

_FIX = "the evidence is corrupt; re-issue the certificate"
# A cosine of unit vectors is in [-1, 1] up to float rounding of the dot product: identical models' embeddings
# give 1.0000000000000004 (the verifier's identity had no room for it and called an honest certificate altered).
ROUNDING = 1e-6


def cosines(arm: c.ArmEvidence) -> np.ndarray:
    """The arm's per-window cosines in plan order (UsageError E403 when missing, non-finite or not in [-1, 1])."""
    rows = arm.comparisons
    if rows is None or any(r.cosine is None for r in rows):
        raise UsageError("E403", "an evidence arm lacks the per-window cosines of embedding_cosine", _FIX)
    values = np.asarray([r.cosine for r in rows], dtype=np.float64)
    if len(values) < 2:
        raise UsageError("E403", f"embedding_cosine needs at least 2 windows, got {len(values)}", "plan more windows")
    if not np.all(np.isfinite(values)) or np.any(np.abs(values) > 1.0 + ROUNDING):
        raise UsageError("E403", "a per-window cosine is not finite or outside [-1, 1]", _FIX)
    return values


def _cosine_columns(arm: c.ArmEvidence) -> tuple[np.ndarray, np.ndarray]:
    """Δ_i = cos_i: a zero baseline column, so θ is the mean cosine itself."""
    values = cosines(arm)
    return np.zeros_like(values), values


class EmbeddingCosine:
    """Mean cosine of paired embeddings: higher is better, gated on the lower bound of its interval."""

    kind = "embedding_cosine"
    unit = "cosine"
    direction = "higher_is_better"
    gating_basis = "lower"
    policy_section = "embedding"
    per_model_scores = False

    def arm_statistic(self, arm: c.ArmEvidence) -> c.ArmMetric:
        values = cosines(arm)
        return c.ArmMetric(
            windows=len(values),
            tokens=int(sum(arm.tokens_scored)),
            mean_cosine=float(values.sum()) / len(values),  # = the bootstrap's θ, bit for bit
            min_cosine=float(values.min()),
        )

    def assess(self, evidence: c.Evidence, *, seed: int, plan_digest: str, policy: Policy) -> Assessment:
        return assess_mean_difference(
            self, evidence, _cosine_columns, "mean_cosine", seed=seed, plan_digest=plan_digest, policy=policy
        )

    def scored_tokens(self, seq_len: int) -> tuple[int, str]:
        """Every token of a window is embedded ([CLS] and [SEP] added by the adapter are not counted)."""
        return seq_len, "seq_len"

    def identity(self, arm: c.ArmMetric) -> tuple[bool, str]:
        """min cosine ≤ mean cosine, both in [-1, 1] (up to the dot product's rounding, as `cosines` allows), and
        no perplexity or accuracy field."""
        try:
            mean, low = arm.value("mean_cosine"), arm.value("min_cosine")
        except UsageError:
            return False, "mean_cosine and min_cosine are set"
        ppl = (arm.ratio, arm.delta_mean, arm.baseline_ppl, arm.subject_ppl)
        others = (*ppl, arm.baseline_accuracy, arm.subject_accuracy, arm.delta_pp, arm.agreement)
        ok = all(v is None for v in others) and -1.0 - ROUNDING <= low <= mean + 1e-12 and mean <= 1.0 + ROUNDING
        return ok, "-1 ≤ min cosine ≤ mean cosine ≤ 1, no other kind's fields"

    def flags(self, pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
        return embedding_gates.flags(pm, policy)

    def catastrophe(self, preview: c.ArmMetric, policy: Policy) -> str | None:
        """A preview mean cosine under the catastrophe cosine: the run rolls back without the final arm."""
        limit, mean = embedding_gates.section(policy).catastrophe_cosine, preview.value("mean_cosine")
        return f"preview mean cosine {mean:.4f} < catastrophe cosine {limit}" if mean < limit else None

    def overhead(
        self, final: c.ArmEvidence, bare_subject: list[float], repaired: list[str], limit: float
    ) -> c.GuardOverhead:
        """No per-model value to compare a repaired subject with: the encoder adapters refuse to score NLL."""
        raise UsageError(
            "E104",
            "embedding_cosine has no per-model score for the guard-overhead check of a repaired subject",
            "keep spectral repair off and drop variance from guards.order for encoder runs",
        )


EMBEDDING_COSINE = EmbeddingCosine()
