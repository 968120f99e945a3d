"""What one guard evaluation recorded: a tagged union over the guards (tag field `guard`), typed end to end."""

from __future__ import annotations

from .invariants import Check
from .plugin_records import PluginMeasurements, PluginOutcome
from .record import Record, Verdict
from .rmt_records import RmtMeasurements, RmtOutcome
from .spectral_records import SpectralMeasurements, SpectralOutcome
from .variance_records import VarianceMeasurements, VarianceOutcome


class _Result(Record, frozen=True, tag_field="guard"):
    @property
    def guard(self) -> str:
        """The guard's name (the union's tag)."""
        return str(type(self).__struct_config__.tag)

    @property
    def repairs(self) -> dict[str, float]:
        """Weight scales this evaluation applied to the subject ({} when it repaired nothing)."""
        return {}


class InvariantsResult(_Result, frozen=True, tag="invariants"):
    """Structural checks of one phase and their verdict."""

    checks: list[Check]
    verdict: Verdict


class SpectralResult(_Result, frozen=True, tag="spectral"):
    measurements: SpectralMeasurements
    outcome: SpectralOutcome

    @property
    def verdict(self) -> Verdict:
        return self.outcome.verdict

    @property
    def repairs(self) -> dict[str, float]:
        return dict(self.outcome.repairs)


class RmtResult(_Result, frozen=True, tag="rmt"):
    measurements: RmtMeasurements
    outcome: RmtOutcome

    @property
    def verdict(self) -> Verdict:
        return self.outcome.verdict


class VarianceResult(_Result, frozen=True, tag="variance"):
    measurements: VarianceMeasurements
    outcome: VarianceOutcome

    @property
    def verdict(self) -> Verdict:
        return self.outcome.verdict

    @property
    def repairs(self) -> dict[str, float]:
        return dict(self.outcome.applied)


class PluginResult(_Result, frozen=True, tag="plugin"):
    """A third-party guard's evaluation (domain/guards/plugin.py): its name, the distribution and version that
    computed it, its measurements and the outcome its decision gave. It repairs nothing."""

    name: str
    distribution: str
    version: str
    measurements: PluginMeasurements
    outcome: PluginOutcome

    @property
    def guard(self) -> str:
        """The plugin guard's name (every plugin shares the tag `plugin`)."""
        return self.name

    @property
    def verdict(self) -> Verdict:
        return self.outcome.verdict


MeasuredResult = SpectralResult | RmtResult | VarianceResult
GuardResult = InvariantsResult | MeasuredResult | PluginResult
Measurements = SpectralMeasurements | RmtMeasurements | VarianceMeasurements
Outcome = SpectralOutcome | RmtOutcome | VarianceOutcome


def measurements_type(guard: str) -> type[Measurements]:
    """The measurement Struct of a measured guard (ValueError for any other name)."""
    types: dict[str, type[Measurements]] = {
        "spectral": SpectralMeasurements,
        "rmt": RmtMeasurements,
        "variance": VarianceMeasurements,
    }
    if guard not in types:
        raise ValueError(f"{guard} is not a measured guard")
    return types[guard]


def result_of(measured: Measurements, outcome: Outcome) -> MeasuredResult:
    """The tagged result pairing measurements with the outcome derived from them (TypeError on a mismatch)."""
    match measured, outcome:
        case SpectralMeasurements(), SpectralOutcome():
            return SpectralResult(measurements=measured, outcome=outcome)
        case RmtMeasurements(), RmtOutcome():
            return RmtResult(measurements=measured, outcome=outcome)
        case VarianceMeasurements(), VarianceOutcome():
            return VarianceResult(measurements=measured, outcome=outcome)
    raise TypeError(f"{type(outcome).__name__} is not the outcome of {type(measured).__name__}")
