"""The guard chain (docs/assurance/guards.md): each guard of the configured order, recorded as one GuardEvaluated event.

Weight guards measure baseline and subject matrices side by side; the variance guard taps activations on
the calibration arm. Repairs (spectral caps in repair mode, VE scales) are applied to the subject through
`LoadedModel.scale_weights` and re-applied from the recorded outcomes when a run resumes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import zip_longest
from typing import TypeAlias, TypeVar

import numpy as np
from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError
from invarlock.domain.guards import chain, rmt, spectral
from invarlock.domain.guards.applicability import NotApplicable, not_applicable
from invarlock.domain.guards.results import MeasuredResult, Measurements, result_of
from invarlock.domain.guards.rmt_records import RmtMeasurements
from invarlock.domain.guards.spectral_records import SpectralMeasurements
from invarlock.domain.guards.spectrum import MatrixMeasure, measure
from invarlock.domain.guards.variance_records import CalibrationWindows
from invarlock.domain.model import ActivationStats, TensorCensus
from invarlock.domain.policy import Policy
from invarlock.domain.windows import Row, TokenWindow
from invarlock.ports.measurement import MeasurementPool
from invarlock.ports.model import LoadedModel, NamedMatrix
from invarlock.ports.ui import Progress

from .recorded_baseline import MatrixSummary, RecordedBaseline, same_values, shape_of
from .recorder import RunRecorder
from .weight_checks import checked_matrix, checked_unmapped

TapSource = Callable[[Sequence[str], CalibrationWindows], Mapping[str, ActivationStats]]
PairMeasures = tuple[str, MatrixMeasure, MatrixMeasure]  # family, baseline measure, subject measure
BaselineMatrix: TypeAlias = NamedMatrix | MatrixSummary  # a summary when the run holds one model at a time
Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class ChainContext:
    """What the guards of one run share: models, recorder, policy, window rows and the measurement cache."""

    recorder: RunRecorder
    models: dict[str, LoadedModel]
    policy: Policy
    rows: Mapping[int, Row]
    progress: Progress
    timer: Callable[[], float] = time.perf_counter  # seconds; a guard's recorded timing is its difference
    base_census: TensorCensus | None = None
    repairs: dict[str, float] = field(default_factory=dict)
    measures: dict[str, PairMeasures] = field(default_factory=dict)
    baseline_measures: Mapping[str, MatrixMeasure] = field(default_factory=dict)  # reused (guard_reuse.py)
    baseline_taps: TapSource = field(default=lambda _targets, _calibration: {})  # reused (variance_reuse.py)
    pool: MeasurementPool | None = None  # None: measured serially under the process's BLAS threads
    recorded: RecordedBaseline | None = None  # a sequential run's baseline, released (recorded_baseline.py)
    # a sequential run's baseline loaded again to tap targets its pass left to a copy that did not come
    retap: Callable[[Sequence[TokenWindow], list[str]], object] | None = None

    def apply_repairs(self, more: dict[str, float]) -> None:
        if more:
            self.repairs = chain.compose(self.repairs, more)
            self.models["subject"].scale_weights(self.repairs)
            for name in more:
                self.measures.pop(name, None)


def phase_of(name: str, position: int) -> str:
    """Invariants run first ("pre", baseline health) and last ("post", subject vs baseline); every other
    guard compares the subject with the baseline ("compare")."""
    if name == "invariants":
        return "pre" if position == 0 else "post"
    return "compare"


def run_chain(order: list[str], ctx: ChainContext, runners: dict[str, Callable[[ChainContext, str], None]]) -> None:
    """Run every guard of `order` not recorded yet; re-apply the repairs of those already recorded."""
    for position, name in enumerate(order):
        phase = phase_of(name, position)
        done = [g for g in ctx.recorder.state.guards if g.guard == name and g.phase == phase]
        if done:
            ctx.apply_repairs(done[0].result.repairs)
            continue
        runners[name](ctx, phase)


def record_measured(ctx: ChainContext, measured: Measurements, seconds: float) -> MeasuredResult:
    """Derive the outcome under the run's policy and record it; returns the recorded result."""
    state = ctx.recorder.state
    outcome = chain.derive(
        measured, ctx.policy, seed=state.started.seeds["dataset"], plan_digest=state.planned().plan.window_plan_digest
    )
    result = result_of(measured, outcome)
    ctx.recorder.record(
        ev.GuardEvaluated(
            phase="compare", mode=ctx.policy.guards.mode_of(result.guard), seconds=round(seconds, 6), result=result
        )
    )
    return result


def unmapped_names(ctx: ChainContext) -> set[str]:
    """Weights either model's adapter cannot map: no guard compares them."""
    return _unmapped(ctx, "baseline").keys() | _unmapped(ctx, "subject").keys()


def _unmapped(ctx: ChainContext, role: str) -> dict[str, str]:
    if role == "baseline" and ctx.recorded is not None:
        return ctx.recorded.unmapped
    return checked_unmapped(ctx.recorder.state, role, ctx.models[role].unmapped())


def not_applicable_rows(ctx: ChainContext) -> list[NotApplicable]:
    """The rows every weight guard records for the weights either model cannot map."""
    return not_applicable(_unmapped(ctx, "baseline"), _unmapped(ctx, "subject"))


def pairs(ctx: ChainContext) -> Iterator[tuple[BaselineMatrix, NamedMatrix]]:
    """Baseline and subject matrices side by side, less the unmapped ones; they must agree in name, order
    and shape. A sequential run's baseline matrices are the summaries it recorded."""
    skip = unmapped_names(ctx)
    state = ctx.recorder.state
    base_all = (m for m in baseline_matrices(ctx) if m.name not in skip)
    subj_all = (m for m in ctx.models["subject"].matrices() if checked_matrix(state, "subject", m).name not in skip)
    for base, subj in zip_longest(base_all, subj_all):
        if base is None or subj is None:  # one model has more matrices: name the first the other lacks
            role, extra = ("subject", subj) if base is None else ("baseline", base)
            raise _mismatch(f"only the {role} has {extra.name} {shape_of(extra)} and any matrices after it")
        if base.name != subj.name or shape_of(base) != shape_of(subj):
            raise _mismatch(f"baseline {base.name} {shape_of(base)}, subject {subj.name} {shape_of(subj)}")
        yield base, subj


def baseline_matrices(ctx: ChainContext) -> Iterator[BaselineMatrix]:
    """The baseline's matrices, checked as read; a sequential run's recorded summaries (checked when read)."""
    if ctx.recorded is not None:
        yield from ctx.recorded.matrices
        return
    state = ctx.recorder.state
    yield from (checked_matrix(state, "baseline", m) for m in ctx.models["baseline"].matrices())


def _mismatch(detail: str) -> AbortError:
    return AbortError("E002", f"weight matrices differ: {detail}", "certify a subject with the baseline's architecture")


def measured_matrices(ctx: ChainContext) -> list[tuple[str, str, MatrixMeasure, MatrixMeasure]]:
    """(name, family, baseline measure, subject measure) for every 2-D weight, measured once per run through
    the run's measurement pool (in model order); a subject matrix equal to the baseline's bit for bit reuses
    the baseline's measurement, and a baseline matrix measured by an earlier run with the same guard key
    (`baseline_measures`) is not measured again."""
    if not ctx.measures or any(name not in ctx.measures for name in ctx.repairs):
        # repaired matrices were dropped from the cache; the rest keep their measures
        ctx.measures = dict(measure_each(ctx.pool, partial(_pair_measures, ctx, dict(ctx.measures)), pairs(ctx)))
    if not ctx.measures:
        raise AbortError("E402", "the models have no 2-D weight matrices to measure", "check the adapter")
    return [(name, fam, b, s) for name, (fam, b, s) in ctx.measures.items()]


def _pair_measures(
    ctx: ChainContext, cache: Mapping[str, PairMeasures], pair: tuple[BaselineMatrix, NamedMatrix]
) -> tuple[str, PairMeasures]:
    base, subj = pair
    cached = cache.get(base.name)
    if cached is None:
        m_b = _baseline_measure(ctx, base)
        same = same_values(base, subj)
        cached = (base.family, m_b, m_b if same else measure_matrix(subj.array, ctx.policy))
    return base.name, cached


def _baseline_measure(ctx: ChainContext, base: BaselineMatrix) -> MatrixMeasure:
    """Reused or recorded, else measured now; a summary always comes with its measurement."""
    reused = ctx.baseline_measures.get(base.name)
    if reused is not None:
        return reused
    if isinstance(base, MatrixSummary):
        raise AssertionError(f"the sequential run recorded no measurement of {base.name}")
    return measure_matrix(base.array, ctx.policy)


def measure_each(
    pool: MeasurementPool | None, measure: Callable[[Item], Result], items: Iterable[Item]
) -> list[Result]:
    """`measure` over `items` in order through `pool` (pinned BLAS threads, in parallel), or serially in this
    thread without one (services built without a pool: tests, embedders)."""
    return pool.map(measure, items) if pool is not None else [measure(item) for item in items]


def measure_matrix(array: np.ndarray, policy: Policy) -> MatrixMeasure:
    """One weight matrix measured with the policy's spectral and RMT settings (certify and the audit share it)."""
    spectral, rmt_ = policy.guards.spectral, policy.guards.rmt
    return measure(
        array,
        tol=spectral.power_tol,
        max_iter=spectral.power_max_iter,
        exact_max_dim=rmt_.exact_max_dim,
        tw_quantile=rmt_.outlier_tw_quantile,
    )


def run_spectral(ctx: ChainContext, _phase: str) -> None:
    t0 = ctx.timer()
    rows = [spectral.measurement(n, f, b, s) for n, f, b, s in measured_matrices(ctx)]
    measured = SpectralMeasurements(matrices=rows, not_applicable=not_applicable_rows(ctx))
    result = record_measured(ctx, measured, ctx.timer() - t0)
    ctx.apply_repairs(result.repairs)


def run_rmt(ctx: ChainContext, _phase: str) -> None:
    t0 = ctx.timer()
    rows = [rmt.measurement(n, f, b, s) for n, f, b, s in measured_matrices(ctx)]
    record_measured(ctx, RmtMeasurements(matrices=rows, not_applicable=not_applicable_rows(ctx)), ctx.timer() - t0)
