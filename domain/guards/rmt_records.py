"""The RMT guard's records: per-matrix Marchenko–Pastur measurements and the outcome derived from them."""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from .applicability import NotApplicable
from .record import Record, Verdict

RmtReason: TypeAlias = Literal["edge_ratio", "outliers"]


class RmtSide(Record, frozen=True):
    """One model's matrix: bulk scale s, MP edge λ₊, outlier threshold, σ_max and outlier count."""

    bulk_scale: float
    edge: float
    outlier_threshold: float
    sigma: float
    outliers: int

    @property
    def edge_ratio(self) -> float | None:
        """e = σ_max / λ₊ (None for an all-zero matrix, whose edge is 0)."""
        return self.sigma / self.edge if self.edge > 0.0 else None


class RmtMatrix(Record, frozen=True):
    """One matrix (rows ≥ cols orientation) measured in both models; `method` is scale/spectrum per side."""

    name: str
    family: str
    rows: int
    cols: int
    method: tuple[str, str]
    baseline: RmtSide
    subject: RmtSide


class RmtMeasurements(Record, frozen=True, omit_defaults=True):
    """Every measured matrix, in model order, and the matrices not measured (absent when none)."""

    matrices: list[RmtMatrix]
    not_applicable: list[NotApplicable] = msgspec.field(default_factory=list)


class RmtJudgement(Record, frozen=True):
    """One matrix judged: ln(e_s/e_b) (None when one side is all-zero), its ε, outlier counts (baseline,
    subject), the count change allowed and the reasons it violates (empty when it does not)."""

    name: str
    family: str
    log_edge_ratio: float | None
    epsilon: float
    outliers: tuple[int, int]
    outliers_allowed: int
    reasons: list[RmtReason]


class RmtSummary(Record, frozen=True):
    matrices: int
    violations: int
    max_violations: int
    stable: bool


class RmtFamily(Record, frozen=True):
    count: int
    max_abs_log_edge_ratio: float
    outliers_baseline: int
    outliers_subject: int
    violations: int


class RmtOutcome(Record, frozen=True):
    """The decision under a policy: verdict, summary, per-family table and the violations."""

    verdict: Verdict
    summary: RmtSummary
    families: dict[str, RmtFamily]
    violations: list[RmtJudgement]
