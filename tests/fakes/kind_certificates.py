"""Hand-built certificates of the metric kinds beyond perplexity, for the report layouts.

Each takes a certificate issued on the fakes and replaces its primary metric and evidence with what the
kind states, every statistic derived from the per-window comparisons given here (not typed in), then
reseals it. They exercise the layouts only: verify does not know these kinds yet (their producers are being
built elsewhere), so a report of them carries a NOT VERIFIED banner.
"""

from __future__ import annotations

import math
import statistics

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain.model import WindowComparison

from tests.fakes.certificates import fake_certificate, resealed


def _arm_evidence(arm: c.ArmEvidence, comparisons: list[WindowComparison], keep_nll: bool) -> c.ArmEvidence:
    nll = {} if keep_nll else {"baseline_nll": None, "subject_nll": None}
    return msgspec.structs.replace(arm, comparisons=comparisons, **nll)


def _with(
    base: c.Certificate,
    pm: c.PrimaryMetric,
    preview: list[WindowComparison],
    final: list[WindowComparison],
    *,
    keep_nll: bool = False,
    **changes: object,
) -> c.Certificate:
    assert base.evidence.final is not None
    evidence = msgspec.structs.replace(
        base.evidence,
        preview=_arm_evidence(base.evidence.preview, preview, keep_nll),
        final=_arm_evidence(base.evidence.final, final, keep_nll),
    )
    return resealed(base, schema_version="v2", primary_metric=pm, evidence=evidence, **changes)


def _policy_with(base: c.Certificate, section: str, thresholds: dict[str, float]) -> c.PolicySection:
    """The base policy with a kind's own section (as the kind's producer adds it; thresholds here are test values)."""
    return c.PolicySection(resolved={**base.policy.resolved, section: thresholds}, digest=base.policy.digest)


def _ids(arm: c.ArmEvidence) -> list[int]:
    return list(arm.window_ids)


def label_comparisons(ids: list[int]) -> list[WindowComparison]:
    """One example per window: gold label alternates; the baseline misses every 5th, the subject every 3rd."""
    return [
        WindowComparison(
            window_id=w,
            positions=1,
            label=i % 2,
            baseline_pred=(i % 2) ^ (i % 5 == 0),
            subject_pred=(i % 2) ^ (i % 3 == 0),
        )
        for i, w in enumerate(ids)
    ]


def _accuracy_arm(rows: list[WindowComparison]) -> c.ArmMetric:
    base = 100.0 * sum(r.baseline_pred == r.label for r in rows) / len(rows)
    subj = 100.0 * sum(r.subject_pred == r.label for r in rows) / len(rows)
    agree = 100.0 * sum(r.baseline_pred == r.subject_pred for r in rows) / len(rows)
    return c.ArmMetric(
        windows=len(rows),
        tokens=len(rows),
        baseline_accuracy=base,
        subject_accuracy=subj,
        delta_pp=subj - base,
        agreement=agree,
    )


def accuracy_certificate() -> c.Certificate:
    """An `accuracy` certificate: accuracies in %, their difference in pp, agreement; labels per example."""
    base = fake_certificate()
    assert base.evidence.final is not None
    preview, final = label_comparisons(_ids(base.evidence.preview)), label_comparisons(_ids(base.evidence.final))
    arm = _accuracy_arm(final)
    assert arm.delta_pp is not None
    pm = c.PrimaryMetric(
        kind="accuracy",
        unit="percent",
        direction="higher_is_better",
        gating_basis="lower",
        preview=_accuracy_arm(preview),
        final=arm,
        ratio_vs_baseline=None,
        ci=(arm.delta_pp - 7.5, arm.delta_pp + 6.25),
        display_ci=(arm.delta_pp - 7.5, arm.delta_pp + 6.25),
        drift=None,
        ci_approximate=True,
    )
    policy = _policy_with(base, "accuracy", {"delta_pp_limit": 5.0, "catastrophe_pp": 20.0, "drift_pp_max": 10.0})
    return _with(base, pm, preview, final, policy=policy)


def cosine_comparisons(ids: list[int]) -> list[WindowComparison]:
    """One embedding cosine per window, slightly below 1 and different for each window."""
    return [
        WindowComparison(window_id=w, positions=1, cosine=1.0 - 1e-4 * (1 + (i * 7) % 11)) for i, w in enumerate(ids)
    ]


def _cosine_arm(rows: list[WindowComparison]) -> c.ArmMetric:
    values = [r.cosine for r in rows if r.cosine is not None]
    return c.ArmMetric(
        windows=len(rows), tokens=len(rows), mean_cosine=statistics.fmean(values), min_cosine=min(values)
    )


def embedding_certificate() -> c.Certificate:
    """An `embedding_cosine` certificate: mean and min cosine; one cosine per window in the evidence."""
    base = fake_certificate()
    assert base.evidence.final is not None
    preview, final = cosine_comparisons(_ids(base.evidence.preview)), cosine_comparisons(_ids(base.evidence.final))
    arm = _cosine_arm(final)
    assert arm.mean_cosine is not None
    pm = c.PrimaryMetric(
        kind="embedding_cosine",
        unit="cosine",
        direction="higher_is_better",
        gating_basis="lower",
        preview=_cosine_arm(preview),
        final=arm,
        ratio_vs_baseline=None,
        ci=(arm.mean_cosine - 1e-4, min(arm.mean_cosine + 1e-4, 1.0)),
        display_ci=(arm.mean_cosine - 1e-4, min(arm.mean_cosine + 1e-4, 1.0)),
        drift=None,
        ci_approximate=True,
    )
    policy = _policy_with(base, "embedding", {"min_cosine": 0.99, "catastrophe_cosine": 0.5, "drift_max": 0.02})
    return _with(base, pm, preview, final, policy=policy)


def kl_comparisons(arm: c.ArmEvidence) -> list[WindowComparison]:
    """KL and top-k counts per window of a scored causal arm: KL grows with the window's ΔlogNLL."""
    rows = []
    base_nll, subj_nll = arm.nll()
    for w, t, b, s in zip(arm.window_ids, arm.tokens_scored, base_nll, subj_nll, strict=True):
        kl = abs(s - b) * 0.5 + 1e-3 * t
        rows.append(
            WindowComparison(
                window_id=w, positions=t, kl_sum=kl, kl_max=kl / 3, top1_agree=t - 2, top5_overlap=5 * t - 7
            )
        )
    return rows


def secondary_of(rows: list[WindowComparison], arm: str) -> c.SecondaryMetrics:
    """The secondary metrics section of `rows` (means derived from the rows; quantiles read off the means)."""
    tokens = sum(r.positions for r in rows)
    means = sorted((r.kl_sum or 0.0) / r.positions for r in rows)
    mean = sum(r.kl_sum or 0.0 for r in rows) / tokens
    top1 = 100.0 * sum(r.top1_agree or 0 for r in rows) / tokens
    top5 = 100.0 * sum(r.top5_overlap or 0 for r in rows) / (5 * tokens)
    median, p90, p99 = (means[min(len(means) - 1, math.floor(p * len(means)))] for p in (0.5, 0.9, 0.99))
    largest = max(r.kl_max or 0.0 for r in rows)
    kl = c.KlSummary(
        tokens=tokens, mean=mean, ci=(mean * 0.9, mean * 1.1), median=median, p90=p90, p99=p99, max=largest
    )
    agreement = c.AgreementSummary(tokens=tokens, top1=top1, ci=(top1 - 0.5, min(top1 + 0.5, 100.0)), top5_overlap=top5)
    return c.SecondaryMetrics(arm=arm, kl_divergence=kl, top1_agreement=agreement, quantile_rule="window means (test)")


def kl_certificate() -> c.Certificate:
    """A `ppl_causal` certificate with per-window KL/top-k comparisons and its secondary metrics section."""
    base = fake_certificate()
    assert base.evidence.final is not None
    preview, final = kl_comparisons(base.evidence.preview), kl_comparisons(base.evidence.final)
    secondary = secondary_of(final, "final")
    return _with(base, base.primary_metric, preview, final, keep_nll=True, secondary_metrics=secondary)


def unknown_kind_certificate() -> c.Certificate:
    """A kind no layout knows, stating only `agreement` and no comparisons: rendered generically."""
    base = fake_certificate()
    arm = c.ArmMetric(windows=12, tokens=12, agreement=96.5)
    pm = msgspec.structs.replace(
        base.primary_metric, kind="mystery_metric", unit="widgets", preview=arm, final=arm, ratio_vs_baseline=None
    )
    return resealed(base, schema_version="v2", primary_metric=pm)
