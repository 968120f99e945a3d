"""The spectral guard's records: per-matrix σ measurements and the outcome derived from them."""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from .applicability import NotApplicable
from .record import Record, Verdict

SpectralReason: TypeAlias = Literal["zero_sigma", "deadband", "family_z"] | None


class SpectralMatrix(Record, frozen=True):
    """σ_max of one matrix in the baseline and the subject, how each was measured (baseline, subject)."""

    name: str
    family: str
    sigma_baseline: float
    sigma_subject: float
    method: tuple[str, str]
    iterations: tuple[int, int]
    residual: tuple[float, float]

    def __post_init__(self) -> None:
        if self.sigma_baseline < 0.0 or self.sigma_subject < 0.0:
            raise ValueError(f"spectral matrix {self.name}: a singular value is negative")


class SpectralMeasurements(Record, frozen=True, omit_defaults=True):
    """Every measured matrix, in model order, and the matrices not measured (absent when none)."""

    matrices: list[SpectralMatrix]
    not_applicable: list[NotApplicable] = msgspec.field(default_factory=list)


class SpectralScore(Record, frozen=True):
    """One matrix judged: r = ln(σ_s/σ_b) (None when a σ is 0), robust family z (None when untested) and
    the reason it violates (None when it does not)."""

    name: str
    family: str
    r: float | None
    z: float | None
    reason: SpectralReason


class SpectralSummary(Record, frozen=True):
    matrices: int
    caps_applied: int
    max_caps: int
    stable: bool


class SpectralFamily(Record, frozen=True):
    count: int
    max_abs_r: float
    max_abs_z: float | None
    violations: int


class SpectralOutcome(Record, frozen=True):
    """The decision under a policy: verdict, summary, per-family table, violations (largest |r| first), the
    top matrices by |z| and, in repair mode, the scale applied to each capped matrix."""

    verdict: Verdict
    summary: SpectralSummary
    families: dict[str, SpectralFamily]
    violations: list[SpectralScore]
    top: list[SpectralScore]
    repairs: dict[str, float]
