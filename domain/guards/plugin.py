"""Third-party guards (entry-point group `invarlock.guards`): the decision half of their contract.

A plugin guard is an object with a `name` (its entry's name), the `settings` it reads (names of numeric
thresholds that the config gives as guards.<name>.<key> and the policy records), a `measure` step that reads
weights through the WeightSource port (ports/guards.py, `PluginGuard`) and this pure `decide`. Certify records
the measurements and the outcome `decide` gives; verify calls `decide` again on the recorded measurements, under
the certificate's policy or the recipient's. The composition root supplies the plugins (`use_plugin_guards`);
nothing in the domain reads entry points.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from ..errors import IntegrityError
from .plugin_records import PluginGuardSettings, PluginMeasurements, PluginOutcome, PluginViolation


@runtime_checkable
class GuardDecision(Protocol):
    """What verify needs of a plugin guard: its name, the thresholds it reads and its decision."""

    name: str
    settings: tuple[str, ...]

    def decide(
        self, measurements: Mapping[str, Mapping[str, float]], settings: Mapping[str, float]
    ) -> Mapping[str, str]:
        """The matrices that fail under `settings`, each with a one-line reason; {} when every matrix passes.

        Args:
            measurements: matrix name → the finite numbers `measure` recorded for it.
            settings: the thresholds named by `settings`, from the policy (guards.<name>.<key>).
        """
        ...


Resolver = Callable[[str], "GuardDecision | None"]
_resolver: Resolver | None = None


def use_plugin_guards(resolve: Resolver | None) -> None:
    """Let the composition root supply third-party guards: `resolve(name)` returns the plugin guard `name`, or
    None when no installed plugin declares one (None removes the resolver)."""
    global _resolver
    _resolver = resolve


def plugin_guard(name: str) -> GuardDecision | None:
    """The plugin guard `name` the composition root supplies, or None (no resolver, or no such plugin)."""
    return _resolver(name) if _resolver is not None else None


def decide(guard: GuardDecision, measured: PluginMeasurements, settings: PluginGuardSettings) -> PluginOutcome:
    """The outcome of `guard` on recorded measurements: fail iff its decision names a matrix.

    Raises:
        IntegrityError: E604 when a measurement is not finite (never a pass) or the decision names a matrix
            that was not measured or gives a reason that is not a string.
    """
    bad = measured.non_finite()
    if bad is not None:
        raise IntegrityError("E604", f"plugin guard {guard.name} measurement {bad} is not finite", "re-run it")
    with contextlib.redirect_stdout(sys.stderr):  # what the plugin prints: stdout holds the command's (--json)
        decided = guard.decide(measured.as_mapping(), dict(settings.settings))
    if not isinstance(decided, Mapping):
        what = f"decided {type(decided).__name__}, not {{matrix name: reason}}"
        raise IntegrityError("E604", f"plugin guard {guard.name} {what}", "fix the plugin")
    failed = dict(decided)
    names = {m.name for m in measured.matrices}
    unmeasured = [k for k in failed if k not in names]
    if unmeasured:
        raise IntegrityError(
            "E604", f"plugin guard {guard.name} failed an unmeasured matrix {unmeasured[0]!r}", "fix the plugin"
        )
    unreasoned = [k for k, v in failed.items() if not isinstance(v, str)]
    if unreasoned:
        why = f"failed matrix {unreasoned[0]!r} with a reason that is no string ({failed[unreasoned[0]]!r})"
        raise IntegrityError("E604", f"plugin guard {guard.name} {why}", "fix the plugin")
    violations = [PluginViolation(name=m.name, reason=failed[m.name]) for m in measured.matrices if m.name in failed]
    return PluginOutcome(verdict="fail" if violations else "pass", violations=violations)
