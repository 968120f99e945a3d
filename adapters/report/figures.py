"""The numbers a report draws, derived from a decoded certificate: per-window Δ and KL, histogram bins."""

from __future__ import annotations

import math
from dataclasses import dataclass

from invarlock.domain import certificate as c
from invarlock.domain.model import WindowComparison

from .cells import Cell


@dataclass(frozen=True)
class Table:
    """A titled table of display cells (not yet escaped); `headers` may be empty for key/value tables."""

    title: str
    headers: list[str]
    rows: list[list[Cell]]


@dataclass(frozen=True)
class Bin:
    """One histogram bin: Δ in [lo, hi) (the last bin includes hi) and how many windows fall in it."""

    lo: float
    hi: float
    count: int


Point = tuple[int, float]  # (window id, value)


def delta_points(arm: c.ArmEvidence | None) -> list[Point]:
    """(window id, ΔlogNLL) per window in plan order, Δ = (subject_nll − baseline_nll) / tokens in nats per
    token; [] for a missing arm or an arm without per-model NLL (embedding, accuracy kinds)."""
    if arm is None or arm.baseline_nll is None or arm.subject_nll is None:
        return []
    rows = zip(arm.window_ids, arm.subject_nll, arm.baseline_nll, arm.tokens_scored, strict=False)
    return [(w, (s - b) / t) for w, s, b, t in rows if t > 0 and math.isfinite(s - b)]


def window_deltas(arm: c.ArmEvidence | None) -> list[float]:
    """The ΔlogNLL values of `delta_points`, in plan order."""
    return [value for _, value in delta_points(arm)]


def kl_points(arm: c.ArmEvidence | None) -> list[Point]:
    """(window id, mean KL per token = kl_sum / positions) for each window whose comparison has a KL sum."""
    rows = (arm.comparisons or []) if arm is not None else []
    return [(r.window_id, r.kl_sum / r.positions) for r in rows if r.kl_sum is not None and r.positions > 0]


def cosine_points(arm: c.ArmEvidence | None) -> list[Point]:
    """(window id, cosine of the two models' embeddings) for each window whose comparison has one."""
    rows = (arm.comparisons or []) if arm is not None else []
    return [(r.window_id, r.cosine) for r in rows if r.cosine is not None]


def labelled_rows(arm: c.ArmEvidence | None) -> list[WindowComparison]:
    """The comparisons that carry a gold label and both models' predictions (classification accuracy)."""
    rows = (arm.comparisons or []) if arm is not None else []
    return [r for r in rows if r.label is not None and r.baseline_pred is not None and r.subject_pred is not None]


def histogram(values: list[float], bins: int = 16) -> list[Bin]:
    """Equal-width bins over [min, max] of the finite values; a single bin when they are all the same; [] for none.
    (A forged certificate's values near the float range overflowed `hi - lo`, and the report was refused.)"""
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return []
    lo, hi = min(values), max(values)
    width = hi / bins - lo / bins  # finite where hi - lo is not
    if not width > 0:
        return [Bin(lo, hi, len(values))]
    counts = [0] * bins
    for v in values:
        counts[min(max(int(v / width - lo / width), 0), bins - 1)] += 1
    return [Bin(lo + i * width, lo + (i + 1) * width, n) for i, n in enumerate(counts)]


def plotted_arm(cert: c.Certificate) -> tuple[str, c.ArmEvidence]:
    """The arm the per-window figures draw: final, or preview after a rollback."""
    final = cert.evidence.final
    return ("final", final) if final is not None else ("preview", cert.evidence.preview)
