"""A third-party guard's step in the chain: measure through read-only weights, decide, record (docs/plugins.md).

The plugin gets both models as WeightSources that refuse every write: `assign` and `scale_weights` raise E221
and the arrays they hand out are read-only views whose flag cannot be set back, so a plugin guard cannot repair (or
damage) the subject; both models' weights digests before and after its measure and decide catch a write by any
other means."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import numpy as np
from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError, IntegrityError, UsageError
from invarlock.domain.guards.plugin import decide, plugin_guard
from invarlock.domain.guards.plugin_records import PluginMatrix, PluginMeasurements
from invarlock.domain.guards.results import PluginResult
from invarlock.domain.model import ModelIdentity, TensorCensus
from invarlock.ports.guards import PluginGuard
from invarlock.ports.measurement import MeasurementPool
from invarlock.ports.model import NamedMatrix, WeightSource
from numpy.lib.stride_tricks import as_strided

from .guard_chain import ChainContext


class _ReadOnlyMatrix:
    def __init__(self, matrix: NamedMatrix) -> None:
        self.name, self.family, self.block, self.head = matrix.name, matrix.family, matrix.block, matrix.head
        # a view's flag could be set back (`setflags(write=True)`: a plugin guard rescaled the subject to a PASS)
        self.array = as_strided(matrix.array, writeable=False)


class ReadOnlyWeights:
    """A WeightSource that reads through to `source` and refuses every write (E221, naming `guard`)."""

    def __init__(self, source: WeightSource, guard: str) -> None:
        self._source, self._guard = source, guard

    def identity(self) -> ModelIdentity:
        return self._source.identity()

    def matrices(self) -> Iterator[NamedMatrix]:
        return (_ReadOnlyMatrix(m) for m in self._source.matrices())

    def census(self) -> TensorCensus:
        return self._source.census()

    def unmapped(self) -> dict[str, str]:
        return self._source.unmapped()

    def variance_taps(self) -> list[str]:
        return self._source.variance_taps()

    def assign(self, name: str, array: np.ndarray) -> None:
        self._refuse(f"assign({name!r})")

    def scale_weights(self, factors: Mapping[str, float]) -> None:
        self._refuse("scale_weights")

    def export(self, directory: Any) -> Any:
        self._refuse("export")

    def _refuse(self, what: str) -> NoReturn:
        raise UsageError(
            "E221",
            f"plugin guard {self._guard} called {what}: a plugin guard measures and decides, it never changes weights",
            "fix the plugin (docs/plugins.md, Guards)",
        )


def loaded_guard(name: str) -> PluginGuard:
    """The plugin guard `name` the composition root supplies (E221 when none does or it cannot measure)."""
    guard = plugin_guard(name)
    if not isinstance(guard, PluginGuard):
        raise UsageError("E221", f"guard {name} is not an installed plugin guard", "`invarlock plugins guards`")
    return guard


def measured_by(
    guard: PluginGuard,
    baseline: WeightSource,
    subject: WeightSource,
    pool: MeasurementPool | None = None,
    origin: str | None = None,
) -> PluginMeasurements:
    """The plugin's measurements of the two models, read-only, as a record; E402 on a non-finite number. With
    the run's `pool`, under its pinned BLAS threads, as the built-in guards measure (their bits do not depend
    on the machine's core count)."""
    base, subj = ReadOnlyWeights(baseline, guard.name), ReadOnlyWeights(subject, guard.name)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # what the plugin prints: stdout holds the command's (--json)
            raw = guard.measure(base, subj) if pool is None else pool.pinned(lambda: guard.measure(base, subj))
    except ValueError as exc:  # a read-only array written to
        raise UsageError("E221", f"plugin guard {guard.name} failed to measure: {exc}", "fix the plugin") from exc
    known = {m.name for source in (baseline, subject) for m in source.matrices()}
    rows = _rows(guard.name, raw, origin, known)
    for row in rows:
        if not row.values:
            raise AbortError(
                "E402",
                f"plugin guard {guard.name} measured no value for {row.name}",
                "a missing or non-finite measurement never passes: check the models or the plugin",
            )
        bad = [key for key, value in row.values.items() if not math.isfinite(value)]
        if bad:
            raise AbortError(
                "E402",
                f"plugin guard {guard.name} measured {row.name}.{bad[0]} = {row.values[bad[0]]}",
                "a missing or non-finite measurement never passes: check the models or the plugin",
            )
    if not rows:
        raise AbortError("E402", f"plugin guard {guard.name} measured no matrix", "check the plugin and the adapter")
    return PluginMeasurements(matrices=rows)


ROLES = ("baseline", "subject")


@contextlib.contextmanager
def weights_unchanged(guard: str, baseline: WeightSource, subject: WeightSource) -> Iterator[None]:
    """E221 when either model's weights digest (every tensor: `identity().weights_sha256`) differs after the block
    (a plugin guard's measure and decide) from before it: a read-only array is no barrier to a plugin that reaches
    the writable one behind it, nor to a write in `decide` or to a 1-D weight it was never handed."""
    sources = (baseline, subject)
    before = [source.identity().weights_sha256 for source in sources]
    yield
    after = [source.identity().weights_sha256 for source in sources]
    changed = [role for role, was, now in zip(ROLES, before, after, strict=True) if was != now]
    if changed:
        said = f"plugin guard {guard} changed the {' and '.join(changed)} weights it was given to measure"
        raise UsageError("E221", said, "fix the plugin (docs/plugins.md, Guards): a guard never changes weights")


def _rows(name: str, raw: object, origin: str | None, known: set[str]) -> list[PluginMatrix]:
    """`measure`'s {matrix name: {value name: number}} as records; E223 naming the guard (and its distribution,
    `origin`) for anything else (a list, None or a string where a number belongs, a bool, an integer no float
    holds, a matrix neither model has in `known`, two names alike once written as text): plain numbers are
    recorded as they are, and verify decides on them."""

    def refuse(what: str) -> NoReturn:
        who = f"guard plugin '{name}' ({origin})" if origin else f"plugin guard {name}"
        fix = f"fix or uninstall {origin.partition(' ')[0]}" if origin else "fix the plugin"
        raise UsageError(
            "E223",
            f"{who}: its measure() returned {what}, not {{matrix name: {{value name: number}}}}",
            f"{fix} (docs/plugins.md, Guards: measure)",
        )

    if not isinstance(raw, Mapping):
        refuse(type(raw).__name__)
    rows: dict[str, PluginMatrix] = {}
    for matrix, values in raw.items():
        if not isinstance(values, Mapping):
            refuse(f"{type(values).__name__} for matrix {matrix!r}")
        if str(matrix) not in known or str(matrix) in rows:
            refuse(f"matrix {matrix!r}, {'which neither model has' if str(matrix) not in known else 'twice'}")
        numbers: dict[str, float] = {}
        for key, value in values.items():
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                refuse(f"{matrix}.{key} = {value!r}")
            if str(key) in numbers:
                refuse(f"the value {str(key)!r} of {matrix} twice")
            try:
                numbers[str(key)] = float(value)
            except OverflowError:
                refuse(f"{matrix}.{key} = an integer beyond a float's range")
        rows[str(matrix)] = PluginMatrix(name=str(matrix), values=numbers)
    return list(rows.values())


def run_plugin_guard(name: str, ctx: ChainContext, _phase: str) -> None:
    """Measure, decide under the run's policy and record the plugin guard `name`."""
    guard = loaded_guard(name)
    settings = (ctx.policy.plugin_guards or {})[name]
    origin = ctx.recorder.state.started.environment.get(f"plugin.guards.{name}")
    if origin is None:
        raise UsageError("E221", f"the run did not record which distribution provides guard {name}", "re-run it")
    t0 = ctx.timer()
    distribution, _, version = origin.partition(" ")
    with weights_unchanged(name, ctx.models["baseline"], ctx.models["subject"]):
        measured = measured_by(guard, ctx.models["baseline"], ctx.models["subject"], ctx.pool, origin)
        try:
            outcome = decide(guard, measured, settings)
        except IntegrityError as exc:  # in verify a recorded decision that cannot stand; here the plugin's answer
            what = exc.message.removeprefix(f"plugin guard {name} ")
            fix = f"fix or uninstall {distribution}"
            raise UsageError("E223", f"guard plugin '{name}' ({origin}): {what}", fix) from exc
    result = PluginResult(name=name, distribution=distribution, version=version, measurements=measured, outcome=outcome)
    seconds = round(ctx.timer() - t0, 6)
    ctx.recorder.record(ev.GuardEvaluated(phase="compare", mode=settings.mode, seconds=seconds, result=result))
