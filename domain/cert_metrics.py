"""The certificate's metric sections: the primary metric's arms and the secondary metrics (KL divergence,
top-1 agreement). Re-exported by domain/certificate.py."""

from __future__ import annotations

from .cert_sections import _FIX, _S
from .errors import UsageError


class ArmMetric(_S, frozen=True, omit_defaults=True):
    """One arm's paired statistic. Which fields are set depends on the primary metric's kind (its Metric
    checks that its own fields are present and no others); unset fields are not written.

    Perplexity kinds: baseline/subject perplexity, mean ΔlogNLL per token, ratio. Classification accuracy:
    baseline/subject accuracy (%), their difference in percentage points and the agreement of the subject's
    predictions with the baseline's (%). Embedding similarity: mean and min cosine.
    """

    windows: int
    tokens: int
    baseline_ppl: float | None = None
    subject_ppl: float | None = None
    delta_mean: float | None = None
    ratio: float | None = None
    baseline_accuracy: float | None = None
    subject_accuracy: float | None = None
    delta_pp: float | None = None
    agreement: float | None = None
    mean_cosine: float | None = None
    min_cosine: float | None = None

    def value(self, name: str) -> float:
        """The field `name`, which the metric kind requires (UsageError E601 when the certificate lacks it)."""
        found: float | None = getattr(self, name)
        if found is None:
            raise UsageError("E601", f"schema check failed: an arm of primary_metric lacks {name}", _FIX)
        return found


class PrimaryMetric(_S, frozen=True):
    kind: str
    unit: str
    direction: str
    gating_basis: str
    preview: ArmMetric
    final: ArmMetric | None
    ratio_vs_baseline: float | None
    ci: tuple[float, float] | None
    display_ci: tuple[float, float] | None
    drift: float | None
    ci_approximate: bool


class KlSummary(_S, frozen=True):
    """KL(baseline ‖ subject) per token over the arm's positions (the llama.cpp --kl-divergence summary):
    the mean (Σ kl_sum / Σ positions) with its window-bootstrap BCa interval, quantiles read from the
    merged per-window histograms (rule in SecondaryMetrics.quantile_rule) and the largest token KL."""

    tokens: int
    mean: float
    ci: tuple[float, float]
    median: float
    p90: float
    p99: float
    max: float


class AgreementSummary(_S, frozen=True):
    """Top-1 agreement (% of positions whose argmax agree) with its BCa interval, and the mean top-5
    overlap (% of the 5 top tokens shared) over the arm's positions."""

    tokens: int
    top1: float
    ci: tuple[float, float]
    top5_overlap: float


class SecondaryMetrics(_S, frozen=True):
    """Paired secondary metrics of a causal certificate, from `arm` (final, or preview after a rollback),
    with intervals drawn from the primary metric's bootstrap index matrix."""

    arm: str
    kl_divergence: KlSummary
    top1_agreement: AgreementSummary
    quantile_rule: str
