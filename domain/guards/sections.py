"""The certificate's guard sections: typed, and encoding to exactly the v1 JSON (docs/reference/certificate.md).

A measured guard's section is its outcome with `mode`, `seconds` and the recorded `measurements` beside the
outcome's own keys; the invariants section gathers the phases. Absent guards are absent keys."""

from __future__ import annotations

from collections.abc import Iterator

from .invariants import Check
from .plugin_records import PluginMeasurements, PluginViolation
from .record import Record, Verdict
from .results import MeasuredResult, Outcome, PluginResult, RmtResult, SpectralResult, VarianceResult, result_of
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


class PluginSection(Record, frozen=True):
    """A third-party guard: who computed it, its mode and time, its recorded measurements and its outcome."""

    distribution: str
    version: str
    mode: Mode
    seconds: float
    measurements: PluginMeasurements
    verdict: Verdict
    violations: list[PluginViolation]


def plugin_section(result: PluginResult, *, mode: Mode, seconds: float) -> PluginSection:
    """A plugin guard's section from its recorded result."""
    out = result.outcome
    return PluginSection(
        distribution=result.distribution,
        version=result.version,
        mode=mode,
        seconds=seconds,
        measurements=result.measurements,
        verdict=out.verdict,
        violations=out.violations,
    )


MeasuredSection = SpectralSection | RmtSection | VarianceSection
Section = InvariantsSection | MeasuredSection | PluginSection
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


_BUILTIN = ("invariants", "spectral", "rmt", "variance")


class GuardSections(Record, frozen=True, omit_defaults=True):
    """One section per guard that ran; a guard that did not run has no key. Third-party guards are under
    `plugins`, by name (absent when none ran, so certificates without them keep their bytes)."""

    invariants: InvariantsSection | None = None
    spectral: SpectralSection | None = None
    rmt: RmtSection | None = None
    variance: VarianceSection | None = None
    plugins: dict[str, PluginSection] | None = None

    def of(self, guard: str) -> Section | None:
        """The section of `guard`, built-in or plugin (None when it did not run or is not a guard)."""
        if guard in _BUILTIN:
            section: Section | None = getattr(self, guard)
            return section
        return (self.plugins or {}).get(guard)

    def items(self) -> Iterator[tuple[str, Section]]:
        """(guard, section) of every guard that ran: the built-ins in field order, then the plugins by name."""
        for name in _BUILTIN:
            section = getattr(self, name)
            if section is not None:
                yield name, section
        yield from sorted((self.plugins or {}).items())

    def names(self) -> set[str]:
        """The guards that have a section."""
        return {name for name, _ in self.items()}


def result_of_section(section: MeasuredSection, outcome: Outcome) -> MeasuredResult:
    """The section's recorded measurements paired with `outcome` (e.g. one re-derived under another policy)."""
    return result_of(section.measurements, outcome)
