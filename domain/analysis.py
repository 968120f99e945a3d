"""Everything statistical in a certificate, derived from its evidence alone (used to build and to verify)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from . import certificate as c
from .policy import Policy
from .stats import GENERATOR, bca_interval, bootstrap_key, paired_summary


def _arrays(arm: c.ArmEvidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.asarray(arm.tokens_scored, dtype=np.float64),
        np.asarray(arm.baseline_nll, dtype=np.float64),
        np.asarray(arm.subject_nll, dtype=np.float64),
    )


def arm_metric(arm: c.ArmEvidence) -> c.ArmMetric:
    s = paired_summary(*_arrays(arm))
    return c.ArmMetric(
        windows=s.windows,
        tokens=s.tokens,
        baseline_ppl=s.baseline_ppl,
        subject_ppl=s.subject_ppl,
        delta_mean=s.delta_mean,
        ratio=s.ratio,
    )


def bootstrap_section(evidence: c.Evidence, *, seed: int, plan_digest: str, policy: Policy) -> c.BootstrapSection:
    """The final arm's interval settings (the preview arm when the run rolled back before the final arm)."""
    arm_name, arm = ("final", evidence.final) if evidence.final is not None else ("preview", evidence.preview)
    key = bootstrap_key(seed, plan_digest, arm_name)
    ci = bca_interval(*_arrays(arm), key=key, replicates=policy.replicates, alpha=policy.gates.alpha)
    return c.BootstrapSection(
        method=ci.method, replicates=ci.replicates, alpha=ci.alpha, generator=GENERATOR, seed=seed, key=ci.key
    )


def primary_metric(evidence: c.Evidence, *, seed: int, plan_digest: str, policy: Policy) -> c.PrimaryMetric:
    """Perplexities per arm, the final ratio, its BCa interval (log space and ratio space) and drift."""
    preview = arm_metric(evidence.preview)
    final = arm_metric(evidence.final) if evidence.final is not None else None
    ci = display = None
    if evidence.final is not None:
        key = bootstrap_key(seed, plan_digest, "final")
        b = bca_interval(*_arrays(evidence.final), key=key, replicates=policy.replicates, alpha=policy.gates.alpha)
        ci, display = (b.lo, b.hi), (math.exp(b.lo), math.exp(b.hi))
    return c.PrimaryMetric(
        kind="ppl_causal",
        unit="perplexity",
        direction="lower_is_better",
        gating_basis="upper",
        preview=preview,
        final=final,
        ratio_vs_baseline=final.ratio if final else None,
        ci=ci,
        display_ci=display,
        drift=final.ratio / preview.ratio if final else None,
        ci_approximate=final is None or final.windows < policy.gates.min_windows_ci,
    )


def _spans_overlap(ids: list[int], seq_len: int, stride: int) -> int:
    starts = sorted(i * stride for i in ids)
    return sum(1 for a, b in itertools.pairwise(starts) if b < a + seq_len or b == a)


def pairing_section(evidence: c.Evidence, dataset: c.DatasetSection) -> c.PairingSection:
    """Match fraction against the plan, measured overlap of token spans, and why pairing failed (if it did)."""
    arms = [("preview", evidence.preview, dataset.windows.preview)]
    if evidence.final is not None:
        arms.append(("final", evidence.final, dataset.windows.final))
    planned = sum(n for _, _, n in arms)
    ids = [i for _, a, _ in arms for i in a.window_ids]
    paired = len(ids)
    overlap = _spans_overlap(ids, dataset.seq_len, dataset.stride) / paired if paired else 1.0
    reason = None
    for name, arm, n in arms:
        if len(arm.window_ids) != n:
            reason = f"{name}_count_mismatch: {len(arm.window_ids)} scored, {n} planned"
    if len(set(ids)) != len(ids):
        reason = "duplicate_window_ids"
    elif overlap > 0:
        reason = "overlapping_windows"
    match = min(paired, planned) / planned if planned else 0.0
    return c.PairingSection(match_fraction=match, overlap_fraction=overlap, paired_windows=paired, reason=reason)


def guard_overhead(final: c.ArmEvidence, bare_nll: list[float], repaired: list[str], limit: float) -> c.GuardOverhead:
    """PPL of the repaired subject over PPL of the bare subject on the final arm's windows."""
    tokens = np.asarray(final.tokens_scored, dtype=np.float64)
    s = paired_summary(tokens, np.asarray(bare_nll, dtype=np.float64), np.asarray(final.subject_nll))
    return c.GuardOverhead(
        repaired_weights=sorted(repaired),
        bare_subject_nll=list(bare_nll),
        bare_ppl=s.baseline_ppl,
        guarded_ppl=s.subject_ppl,
        ratio=s.ratio,
        limit=limit,
    )
