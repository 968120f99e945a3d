"""The variance guard's records: tap statistics and the A/B pass on the calibration arm, and the outcome."""

from __future__ import annotations

from typing import Literal

import msgspec

from ..model import ActivationStats
from .applicability import NotApplicable
from .record import Record, Verdict


class VarianceTap(Record, frozen=True, omit_defaults=True):
    """One targeted module's output statistics: baseline, subject and, after the A/B pass, the subject with
    the proposed scales (`repaired`, absent when VE proposed none)."""

    weight: str
    baseline: ActivationStats
    subject: ActivationStats
    repaired: ActivationStats | None = None


class CalibrationWindows(Record, frozen=True):
    window_ids: list[int]
    window_digests: list[str]


class ABPass(Record, frozen=True):
    """Per calibration window: tokens scored and the subject's NLL sums without and with the VE scales."""

    window_ids: list[int]
    tokens: list[int]
    nll_without: list[float]
    nll_with: list[float]

    def __post_init__(self) -> None:
        sizes = {len(self.window_ids), len(self.tokens), len(self.nll_without), len(self.nll_with)}
        if len(sizes) != 1:
            raise ValueError("the A/B pass lists differ in length")


class VarianceMeasurements(Record, frozen=True, omit_defaults=True):
    """What the guard measured: targets rule, calibration windows, taps, the A/B pass (None when no scale
    was proposed), the digest of the subject's weights with the scales (None likewise) and the matrices it
    could not tap or compare (absent when none)."""

    targets: Literal["changed", "all_ffn"]
    calibration: CalibrationWindows
    taps: list[VarianceTap]
    ab: ABPass | None
    repaired_weights_sha256: str | None
    not_applicable: list[NotApplicable] = msgspec.field(default_factory=list)


class Proposal(Record, frozen=True):
    """VE's proposal for one tap: std_b/std_s (None when std_s is 0), the clamped scale, whether it is kept
    and the scale applied (1.0 when not kept)."""

    ratio: float | None
    proposed: float
    kept: bool
    applied: float


class VarianceScale(Proposal, frozen=True):
    """A tap's row of the outcome: its output std per side, as finally evaluated, the remaining shift."""

    weight: str
    std_baseline: float
    std_subject: float
    std_final: float
    residual_shift: float | None


class ABGate(Record, frozen=True):
    """The A/B decision: token-weighted mean Δ, its bootstrap interval and whether VE is enabled."""

    mean_delta: float
    ci: tuple[float, float]
    method: str
    enabled: bool


class VarianceViolation(Record, frozen=True):
    name: str
    residual_shift: float | None
    ratio: float | None


class VarianceSummary(Record, frozen=True):
    taps: int
    proposed: int
    enabled: bool
    violations: int


class VarianceOutcome(Record, frozen=True):
    """The decision under a policy: verdict, summary, one row per tap, the scales applied (empty unless
    enabled), the A/B gate (None when nothing was proposed) and the violations."""

    verdict: Verdict
    summary: VarianceSummary
    scales: list[VarianceScale]
    applied: dict[str, float]
    ab: ABGate | None
    violations: list[VarianceViolation]
