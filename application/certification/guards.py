"""The guards a run can name in `guards.order`, and the invariants guard's recording step."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from invarlock.domain import events as ev
from invarlock.domain.guards import invariants
from invarlock.domain.guards.results import InvariantsResult
from invarlock.domain.guards.settings import InvariantsSettings
from invarlock.domain.model import TensorCensus
from invarlock.ports.model import WeightSource

from .guard_chain import ChainContext, run_rmt, run_spectral
from .plugin_guard import run_plugin_guard
from .recorder import RunRecorder
from .variance_guard import run_variance
from .weight_checks import checked_census, refuse_non_finite


def run_invariants(
    phase: str,
    models: Mapping[str, WeightSource],
    recorder: RunRecorder,
    dtype_change: bool,
    base: TensorCensus,
    settings: InvariantsSettings,
    timer: Callable[[], float] = time.perf_counter,
) -> None:
    """Record the invariants guard for one phase under its policy `settings` (mode, offenders listed); non-finite
    weights abort before any scoring (E402)."""
    t0 = timer()
    limit = settings.report_limit
    if phase == "pre":  # both models alone: non-finite weights stop the run before any guard measures them
        subj = checked_census(recorder.state, "subject", models["subject"].census())
        checks = invariants.health_checks(base, "baseline", limit=limit) + invariants.health_checks(
            subj, "subject", limit=limit
        )
    else:
        subj = checked_census(recorder.state, "subject", models["subject"].census())
        checks = invariants.comparison_checks(base, subj, dtype_change_declared=dtype_change, limit=limit)
    verdict = invariants.verdict_of(checks)
    recorder.record(
        ev.GuardEvaluated(
            phase=phase,
            mode=settings.mode,
            seconds=round(timer() - t0, 6),
            result=InvariantsResult(checks=checks, verdict=verdict),
        )
    )
    edit = recorder.state.edit
    of_baseline = recorder.state.started.command == "run"
    refuse_non_finite(checks, edited_by=edit.outcome.name if edit is not None else None, of_baseline=of_baseline)


def _run_invariants(ctx: ChainContext, phase: str) -> None:
    if ctx.base_census is None:  # the baseline never changes: one census serves both phases
        ctx.base_census = checked_census(ctx.recorder.state, "baseline", ctx.models["baseline"].census())
    settings = ctx.policy.guards.invariants
    run_invariants(phase, ctx.models, ctx.recorder, False, ctx.base_census, settings, timer=ctx.timer)


RUNNERS: dict[str, Callable[[ChainContext, str], None]] = {
    "invariants": _run_invariants,
    "spectral": run_spectral,
    "rmt": run_rmt,
    "variance": run_variance,
}


def runners_for(order: Sequence[str]) -> dict[str, Callable[[ChainContext, str], None]]:
    """The built-in RUNNERS and, for every other name of `order`, the plugin guard's step."""
    plugins = {name: partial(run_plugin_guard, name) for name in order if name not in RUNNERS}
    return {**RUNNERS, **plugins}
