"""Secondary metrics of a causal LM certificate: KL(baseline ‖ subject) per token and top-1/top-5 agreement,
from the paired measures of the gated arm's evidence (docs/reference/statistics.md, "KL divergence and top-1
agreement"). Build and verify call the same function, so verify recomputes every number bit for bit.

The intervals are window-bootstrap BCa intervals of ratio estimators (Σ per-window sum / Σ positions) drawn
from the primary metric's index matrix (same key: seed, plan digest, arm; stats.resample_indices draws it
once), at the policy's replicates and alpha. Quantiles are read from the merged per-window histograms by
kl_bins.QUANTILE_RULE.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import msgspec
import numpy as np

from .. import certificate as c
from ..errors import UsageError
from ..policy import Policy
from ..stats import bootstrap_key, ratio_interval
from . import kl_bins

TOP = 5  # the k of the top-k overlap
_FIX = "the evidence is corrupt; re-issue the certificate"
# A window's KL sum against the bounds its histogram and kl_max set: float64 sums of one tensor differ from
# the bounds by round-off only (relative), and a token KL can be a round-off below zero (absolute, per token).
_SLACK = 1e-9
_ROUNDOFF = 1e-12


class KlRow(msgspec.Struct, frozen=True, kw_only=True):
    """The causal measures of one window, every field present."""

    window_id: int
    positions: int
    kl_sum: float
    kl_max: float
    kl_histogram: tuple[int, ...]
    top1_agree: int
    top5_overlap: int


def kl_rows(arm: c.ArmEvidence) -> list[KlRow] | None:
    """The arm's comparisons as KlRows, checked; None when no comparison carries the causal measures.

    Raises:
        UsageError: E403 when some windows lack them, or a window's measures contradict each other.
    """
    found = [kl_row(m) for m in arm.comparisons or []]
    rows = [r for r in found if r is not None]
    if not rows:
        return None
    if len(rows) != len(found):
        raise UsageError("E403", "some windows' comparisons lack the KL/top-1 measures", _FIX)
    bad = next((r.window_id for r in rows if not consistent(r)), None)
    if bad is not None:
        raise UsageError("E403", f"window {bad}: its KL/top-1 measures contradict each other", _FIX)
    return rows


def kl_row(comparison: object) -> KlRow | None:
    """A window's comparison (a WindowComparison) as a KlRow, unchecked; None unless it has every field."""
    values: dict[str, Any] = {f: getattr(comparison, f, None) for f in KlRow.__struct_fields__}
    return None if any(v is None for v in values.values()) else KlRow(**values)


def consistent(r: KlRow) -> bool:
    """The identities every window's measures obey: the histogram counts each position once, its highest
    non-empty bin holds kl_max, kl_sum lies between the bins' lower edges and their upper edges (each capped
    at kl_max), and the agreements are at most the positions."""
    hist = r.kl_histogram
    if len(hist) != kl_bins.BINS or min(hist) < 0 or sum(hist) != r.positions or r.positions <= 0:
        return False
    if not (math.isfinite(r.kl_sum) and math.isfinite(r.kl_max)):
        return False
    top_bin = max(i for i, count in enumerate(hist) if count)
    floor = sum(count * kl_bins.EDGES[i - 1] for i, count in enumerate(hist) if i > 0)
    ceiling = sum(count * min(kl_bins.upper_edge(i), r.kl_max) for i, count in enumerate(hist))
    tol = r.positions * _ROUNDOFF
    return (
        bisect.bisect_right(kl_bins.EDGES, r.kl_max) == top_bin
        and floor * (1 - _SLACK) - tol <= r.kl_sum <= ceiling + abs(ceiling) * _SLACK + tol
        and 0 <= r.top1_agree <= r.positions
        and 0 <= r.top5_overlap <= TOP * r.positions
    )


def secondary_metrics(
    evidence: c.Evidence, *, seed: int, plan_digest: str, policy: Policy
) -> c.SecondaryMetrics | None:
    """KL and agreement summaries of the gated arm (final, or preview after a rollback); None when its
    evidence has no KL comparisons (runs recorded before lockstep scoring, other metric kinds).

    Raises:
        UsageError: E403 as kl_rows, or when the arm has fewer than 2 windows.
    """
    name, arm = ("final", evidence.final) if evidence.final is not None else ("preview", evidence.preview)
    rows = kl_rows(arm)
    if rows is None:
        return None
    n = np.asarray([r.positions for r in rows], dtype=np.float64)
    key = bootstrap_key(seed, plan_digest, name)

    def interval(values: list[float]) -> tuple[float, tuple[float, float]]:
        x = np.asarray(values, dtype=np.float64)
        b = ratio_interval(n, x, key=key, replicates=policy.replicates, alpha=policy.gates.alpha)
        return float(x.sum() / n.sum()), (b.lo, b.hi)

    tokens = sum(r.positions for r in rows)
    mean, kl_ci = interval([r.kl_sum for r in rows])
    top1, (lo, hi) = interval([float(r.top1_agree) for r in rows])
    return c.SecondaryMetrics(
        arm=name,
        kl_divergence=_kl(rows, tokens, mean, kl_ci),
        top1_agreement=c.AgreementSummary(
            tokens=tokens,
            top1=100.0 * top1,
            ci=(100.0 * lo, 100.0 * hi),
            top5_overlap=100.0 * sum(r.top5_overlap for r in rows) / (TOP * tokens),
        ),
        quantile_rule=kl_bins.QUANTILE_RULE,
    )


def _kl(rows: list[KlRow], tokens: int, mean: float, ci: tuple[float, float]) -> c.KlSummary:
    merged = [sum(column) for column in zip(*(r.kl_histogram for r in rows), strict=True)]
    largest = max(r.kl_max for r in rows)
    return c.KlSummary(
        tokens=tokens,
        mean=mean,
        ci=ci,
        median=kl_bins.quantile(merged, 0.5, largest),
        p90=kl_bins.quantile(merged, 0.9, largest),
        p99=kl_bins.quantile(merged, 0.99, largest),
        max=largest,
    )


def secondary_flags(sm: c.SecondaryMetrics | None, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
    """The secondary gates, present when the certificate has secondary metrics or the policy gates them:
    `not_applicable` when the policy does not gate them, False when it does and they are missing."""
    gates = policy.secondary
    if sm is None and gates is None:
        return {}
    if gates is None:
        return {"kl_divergence_acceptable": ("not_applicable", ""), "top1_agreement_acceptable": ("not_applicable", "")}
    if sm is None:
        missing = "the policy gates secondary metrics but the certificate has none"
        return {"kl_divergence_acceptable": (False, missing), "top1_agreement_acceptable": (False, missing)}
    kl_hi, top1_lo = sm.kl_divergence.ci[1], sm.top1_agreement.ci[0]
    return {
        "kl_divergence_acceptable": (
            kl_hi <= gates.kl_mean_upper_limit,
            f"mean KL upper bound {kl_hi:.6g} > {gates.kl_mean_upper_limit}",
        ),
        "top1_agreement_acceptable": (
            top1_lo >= gates.top1_lower_limit,
            f"top-1 agreement lower bound {top1_lo:.4f} % < {gates.top1_lower_limit} %",
        ),
    }
