"""What a third-party guard records (docs/plugins.md, "Guards"): named numbers per matrix, the matrices its
decision failed with the reason, and the settings (thresholds) its decision read from the policy.

A plugin guard measures and decides; it never repairs weights, so its result has no repairs."""

from __future__ import annotations

import math

import msgspec

from ..errors import UsageError
from .record import Record, Verdict
from .settings import GUARD_MODES, Mode


class PluginMatrix(Record, frozen=True):
    """One matrix's measurements: named, finite numbers (e.g. {"baseline": 0.41, "subject": 0.45})."""

    name: str
    values: dict[str, float]


class PluginMeasurements(Record, frozen=True):
    """Every matrix the plugin measured, in the order it measured them."""

    matrices: list[PluginMatrix]

    def as_mapping(self) -> dict[str, dict[str, float]]:
        """matrix name → its values, what the plugin's `decide` reads."""
        return {m.name: dict(m.values) for m in self.matrices}

    def non_finite(self) -> str | None:
        """The first `matrix.value` that is not a finite number, or a matrix with no value (None when every
        matrix has values and all are finite): a missing measurement never passes."""
        for m in self.matrices:
            if not m.values:
                return f"{m.name} (no value)"
            for key, value in m.values.items():
                if not math.isfinite(value):
                    return f"{m.name}.{key} = {value}"
        return None


class PluginViolation(Record, frozen=True):
    """A matrix that failed the plugin's decision, and why."""

    name: str
    reason: str


class PluginOutcome(Record, frozen=True):
    """The plugin's decision: `fail` iff any matrix violates its thresholds."""

    verdict: Verdict
    violations: list[PluginViolation]


class PluginGuardSettings(Record, frozen=True):
    """A plugin guard's part of the policy: its mode and the thresholds the config gave as guards.<name>.*."""

    mode: Mode
    settings: dict[str, float]

    def __post_init__(self) -> None:
        if self.mode not in GUARD_MODES:
            raise UsageError("E202", f"plugin guard mode {self.mode!r}", f"use one of: {', '.join(GUARD_MODES)}")
        for key, value in self.settings.items():
            if not math.isfinite(value):
                raise UsageError("E202", f"plugin guard setting {key} is {value}", "give a finite number")


def settings_of(name: str, given: dict[str, object], required: tuple[str, ...]) -> PluginGuardSettings:
    """The plugin guard `name`'s settings from its config section: `mode` (default gate) and a finite number
    for each of `required` (the plugin's thresholds), nothing else (UsageError E202)."""
    values = {k: v for k, v in given.items() if k != "mode"}
    missing = [k for k in required if k not in values]
    unknown = sorted(set(values) - set(required))
    if missing or unknown:
        what = f"needs guards.{name}.{missing[0]}" if missing else f"has no setting guards.{name}.{unknown[0]}"
        raise UsageError("E202", f"plugin guard {name} {what}", f"give exactly: {', '.join(required)} (and mode)")
    try:
        return msgspec.convert({"mode": given.get("mode", "gate"), "settings": values}, PluginGuardSettings)
    except msgspec.ValidationError as exc:
        raise UsageError("E202", f"guards.{name}: {exc}", "thresholds are numbers, mode gate or monitor") from exc
