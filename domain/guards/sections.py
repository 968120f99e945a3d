"""The certificate's guard sections: typed, and encoding to exactly the v1 JSON (docs/reference/certificate.md).

A measured guard's section is its outcome with `mode`, `seconds` and the recorded `measurements` beside the
outcome's own keys; the invariants section gathers the phases. Absent guards are absent keys."""

from __future__ import annotations

from collections.abc import Iterator

from .invariants import Check
from .record import Record, Verdict
from .results import MeasuredResult, Outcome, RmtResult, SpectralResult, VarianceResult, result_of
from .rmt_records import RmtMeasurements, RmtOutcome
from .settings import Mode
from .spectral_records import SpectralMeasurements, SpectralOutcome
from .variance_records import VarianceMeasurements, VarianceOutcome


class PhaseRecord(Record, frozen=True):
    """One invariants phase (pre or post): its verdict, checks and time."""

    verdict: Verdict
    checks: list[Check]
    seconds: float


class InvariantsSection(Record, frozen=True):
    mode: Mode
    phases: dict[str, PhaseRecord]
    seconds: float
    verdict: Verdict


class SpectralSection(SpectralOutcome, frozen=True):
    mode: Mode
    seconds: float
    measurements: SpectralMeasurements


class RmtSection(RmtOutcome, frozen=True):
    mode: Mode
    seconds: float
    measurements: RmtMeasurements


class VarianceSection(VarianceOutcome, frozen=True):
    mode: Mode
    seconds: float
    measurements: VarianceMeasurements


MeasuredSection = SpectralSection | RmtSection | VarianceSection
Section = InvariantsSection | MeasuredSection
_OUTCOME_OF: dict[type[MeasuredSection], type[Outcome]] = {
    SpectralSection: SpectralOutcome,
    RmtSection: RmtOutcome,
    VarianceSection: VarianceOutcome,
}


def outcome_of(section: MeasuredSection) -> Outcome:
    """The outcome a measured section states (its keys other than mode, seconds and measurements)."""
    cls = _OUTCOME_OF[type(section)]
    return cls(**{name: getattr(section, name) for name in cls.__struct_fields__})


def repairs_of(section: Section) -> dict[str, float]:
    """Weight scales a section's outcome applied to the subject ({} when it repaired nothing)."""
    if isinstance(section, SpectralSection):
        return dict(section.repairs)
    if isinstance(section, VarianceSection):
        return dict(section.applied)
    return {}


def measured_section(result: MeasuredResult, *, mode: Mode, seconds: float) -> MeasuredSection:
    """A measured guard's section from its recorded result."""
    fields = {name: getattr(result.outcome, name) for name in type(result.outcome).__struct_fields__}
    common = {"mode": mode, "seconds": seconds, **fields}
    match result:
        case SpectralResult():
            return SpectralSection(measurements=result.measurements, **common)
        case RmtResult():
            return RmtSection(measurements=result.measurements, **common)
        case VarianceResult():
            return VarianceSection(measurements=result.measurements, **common)
    raise TypeError(f"{type(result).__name__} is not a measured result")


class GuardSections(Record, frozen=True, omit_defaults=True):
    """One section per guard that ran; a guard that did not run has no key."""

    invariants: InvariantsSection | None = None
    spectral: SpectralSection | None = None
    rmt: RmtSection | None = None
    variance: VarianceSection | None = None

    def of(self, guard: str) -> Section | None:
        """The section of `guard` (None when it did not run or is not a guard)."""
        if guard not in self.__struct_fields__:
            return None
        section: Section | None = getattr(self, guard)
        return section

    def items(self) -> Iterator[tuple[str, Section]]:
        """(guard, section) of every guard that ran, in field order."""
        for name in self.__struct_fields__:
            section = getattr(self, name)
            if section is not None:
                yield name, section

    def names(self) -> set[str]:
        """The guards that have a section."""
        return {name for name, _ in self.items()}


def result_of_section(section: MeasuredSection, outcome: Outcome) -> MeasuredResult:
    """The section's recorded measurements paired with `outcome` (e.g. one re-derived under another policy)."""
    return result_of(section.measurements, outcome)
