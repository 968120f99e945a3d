"""The numbers a report draws, derived from a decoded certificate: limit, CI, per-window Δ, histogram bins."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import msgspec
from invarlock.domain import certificate as c


@dataclass(frozen=True)
class Table:
    """A titled table of display strings (not yet escaped); `headers` may be empty for key/value tables."""

    title: str
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Bin:
    """One histogram bin: Δ in [lo, hi) (the last bin includes hi) and how many windows fall in it."""

    lo: float
    hi: float
    count: int


def text(value: Any) -> str:
    """A display string for any certificate value: floats to 6 significant digits, containers as sorted JSON."""
    if value is None:
        return "—"
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def ratio_limit(cert: c.Certificate) -> float | None:
    """The tier's ratio limit (upper CI bound must stay at or below it), or None when the policy lacks one."""
    gates = cert.policy.resolved.get("gates")
    limit = gates.get("ratio_limit") if isinstance(gates, dict) else None
    return float(limit) if isinstance(limit, int | float) and math.isfinite(limit) else None


def window_deltas(arm: c.ArmEvidence | None) -> list[float]:
    """Per-window ΔlogNLL = (subject_nll − baseline_nll) / tokens, in nats per token; [] for a missing arm."""
    if arm is None:
        return []
    rows = zip(arm.subject_nll, arm.baseline_nll, arm.tokens_scored, strict=False)
    return [(s - b) / t for s, b, t in rows if t > 0 and math.isfinite(s - b)]


def histogram(values: list[float], bins: int = 16) -> list[Bin]:
    """Equal-width bins over [min, max]; a single bin when every value is the same; [] for no values."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    if hi <= lo:
        return [Bin(lo, hi, len(values))]
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    return [Bin(lo + i * width, lo + (i + 1) * width, n) for i, n in enumerate(counts)]


def headline(cert: c.Certificate) -> tuple[float | None, tuple[float, float] | None, str]:
    """The ratio to draw, its CI (ratio space) and a label: the final arm, or the preview arm after a rollback."""
    pm = cert.primary_metric
    if pm.final is not None and pm.ratio_vs_baseline is not None:
        return pm.ratio_vs_baseline, pm.display_ci, "final ratio"
    return pm.preview.ratio, None, "preview ratio (rolled back: no final arm)"
