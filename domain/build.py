"""build_certificate(state): the certificate as a pure function of a run's folded events."""

from __future__ import annotations

import msgspec

from . import analysis, gates
from . import certificate as c
from . import events as ev
from .baseline_reuse import baseline_scoring
from .errors import IntegrityError
from .guards import sections as gs
from .guards.record import Verdict
from .guards.results import InvariantsResult, PluginResult
from .metrics import Metric, recorded_metric
from .metrics.answers import checked_assessment, checked_overhead
from .metrics.secondary import secondary_metrics
from .run import RunState
from .variance_reuse import variance_baseline
from .windows import ARMS

TOOL_NAME = "invarlock"
_ALTERED = "the event stream was altered"


def _edit(e: ev.EditApplied | None) -> c.EditSection:
    if e is None:
        return c.EditSection(name="external")
    return c.EditSection(**msgspec.structs.asdict(e.outcome))


def _dataset(w: ev.WindowsPlanned) -> c.DatasetSection:
    """Schema v1 states the corpus and the plan flat in one section, the windows counted per arm."""
    counts = c.ArmCount(**{arm: len(w.plan.arm(arm)) for arm in ARMS})
    plan = {k: v for k, v in msgspec.structs.asdict(w.plan).items() if k != "windows"}
    return c.DatasetSection(**msgspec.structs.asdict(w.corpus), **plan, windows=counts)


def _stated_as_recorded(event: msgspec.Struct, section: type[msgspec.Struct]) -> dict[str, object]:
    """The event's fields that the certificate section states under the same name, as recorded."""
    return {name: getattr(event, name) for name in section.__struct_fields__ if name in event.__struct_fields__}


def arm_evidence(state: RunState, arm: str) -> c.ArmEvidence | None:
    """Rows of one arm in plan order: each model's NLL sums and the paired measures, for the windows holding
    every kind of record the arm holds; None when the arm holds none.

    Raises:
        IntegrityError: E001 when the two models scored a window on different tokens or a row's digest is
            not the planned one; E604 when a paired measure names a window outside the arm's plan.
    """
    plan = {w.window_id: w.digest for w in state.planned().plan.arm(arm)}
    base, subj, compared = state.scored("baseline", arm), state.scored("subject", arm), state.compared(arm)
    scores = bool(base or subj)
    if not scores and not compared:
        return None
    _check_compared(compared, plan, arm)
    rows = c.ArmEvidence(
        window_ids=[],
        window_digests=[],
        tokens_scored=[],
        baseline_nll=[] if scores else None,
        subject_nll=[] if scores else None,
        comparisons=[] if compared else None,
    )
    for wid, digest in plan.items():
        b, s, m = base.get(wid), subj.get(wid), compared.get(wid)
        if (scores and (b is None or s is None)) or (compared and m is None):
            continue
        rows.window_ids.append(wid)
        rows.window_digests.append(digest)
        if b is not None and s is not None:
            if b.tokens_scored != s.tokens_scored or b.digest != s.digest:
                raise IntegrityError(
                    "E001",
                    f"window {wid} was scored on different tokens by the two models",
                    "the two models must share the tokenizer; if this came from a stored run, its events were altered",
                )
            rows.tokens_scored.append(b.tokens_scored)
            rows.nll()[0].append(b.nll_sum)
            rows.nll()[1].append(s.nll_sum)
        if m is not None:
            if b is None:
                rows.tokens_scored.append(m.comparison.positions)
            assert rows.comparisons is not None
            rows.comparisons.append(m.comparison)
    return rows


def _check_compared(compared: dict[int, ev.ComparedRow], plan: dict[int, str], arm: str) -> None:
    for wid, row in compared.items():
        if wid not in plan:
            raise IntegrityError("E604", f"window {wid} was compared but is not planned in arm {arm}", _ALTERED)
        if row.digest != plan[wid]:
            raise IntegrityError("E001", f"window {wid} was compared on other tokens than planned", _ALTERED)


def guard_sections(guards: tuple[ev.GuardEvaluated, ...]) -> gs.GuardSections:
    """One section per guard. Invariants: mode, every phase's checks and verdict, overall verdict and
    timing. Measured guards: mode, timing, the recorded measurements and the outcome derived from them."""
    measured: dict[str, gs.MeasuredSection] = {}
    plugins: dict[str, gs.PluginSection] = {}
    invariants = [g for g in guards if isinstance(g.result, InvariantsResult)]
    for g in guards:
        if isinstance(g.result, PluginResult):
            plugins[g.guard] = gs.plugin_section(g.result, mode=g.mode, seconds=g.seconds)
        elif not isinstance(g.result, InvariantsResult):
            measured[g.guard] = gs.measured_section(g.result, mode=g.mode, seconds=g.seconds)
    sections = gs.GuardSections(invariants=_invariants(invariants), plugins=plugins or None)
    return msgspec.structs.replace(sections, **measured)


def _invariants(events: list[ev.GuardEvaluated]) -> gs.InvariantsSection | None:
    if not events:
        return None
    phases: dict[str, gs.PhaseRecord] = {}
    seconds = 0.0
    for g in events:
        assert isinstance(g.result, InvariantsResult)
        phases[g.phase] = gs.PhaseRecord(verdict=g.result.verdict, checks=g.result.checks, seconds=g.seconds)
        seconds += g.seconds
    verdict: Verdict = "fail" if any(p.verdict == "fail" for p in phases.values()) else "pass"
    return gs.InvariantsSection(mode=events[0].mode, phases=phases, seconds=seconds, verdict=verdict)


def _overhead(state: RunState, metric: Metric, final: c.ArmEvidence | None, limit: float) -> c.GuardOverhead | None:
    repaired = sorted({name for g in state.guards for name in g.result.repairs})
    if not repaired or final is None:
        return None
    bare = state.scored("subject_bare", "final")
    if any(wid not in bare for wid in final.window_ids):
        raise IntegrityError(
            "E604", "a guard repaired the subject but the bare final arm was not scored", "the stream is incomplete"
        )
    nll = [bare[wid].nll_sum for wid in final.window_ids]
    found = metric.overhead(final, nll, repaired, limit)
    return checked_overhead(metric.kind, found, bare_subject=nll, repaired=repaired, limit=limit)


def _guard_baseline(e: ev.GuardBaselineReused | None) -> c.GuardBaseline | None:
    if e is None:
        return None
    return c.GuardBaseline(source_run_id=e.source_run_id, guard_key=e.guard_key, source_events=list(e.source_events))


def build_certificate(state: RunState, *, issued_at: str, event_log: c.EventLogRef) -> c.Certificate:
    """The sealed certificate of a run whose preview arm (at least) was scored by both models."""
    if state.windows is None or set(state.models) != {"baseline", "subject"}:
        raise IntegrityError(
            "E604", "the stream lacks the models or the window plan", "the event stream is incomplete or altered"
        )
    preview = arm_evidence(state, "preview")
    if preview is None:
        raise IntegrityError("E604", "the preview arm was never scored", "the event stream is incomplete or altered")
    evidence = c.Evidence(
        preview=preview,
        final=None if state.rollback else arm_evidence(state, "final"),
        plan=list(state.windows.plan.windows),
    )
    if evidence.final is None and not state.rollback:
        raise IntegrityError(
            "E604",
            "the final arm was never scored and no rollback was recorded",
            "the event stream is incomplete or altered",
        )
    policy = state.started.policy
    seed = state.started.seeds["dataset"]
    dataset = _dataset(state.windows)
    metric = recorded_metric(state.started.config)
    assessed = checked_assessment(
        metric.kind,
        metric.assess(evidence, seed=seed, plan_digest=dataset.window_plan_digest, policy=policy),
        evidence,
        policy.gates.min_windows_ci,
    )
    pm = assessed.primary
    pairing = analysis.pairing_section(evidence, dataset)
    guards = guard_sections(state.guards)
    overhead = _overhead(state, metric, evidence.final, policy.gates.guard_overhead_limit)
    baseline, subject = state.models["baseline"].identity, state.models["subject"].identity
    secondary = secondary_metrics(evidence, seed=seed, plan_digest=dataset.window_plan_digest, policy=policy)
    validation, verdict = gates.evaluate(
        pm,
        pairing,
        guards,
        baseline,
        subject,
        policy,
        overhead=overhead,
        secondary=secondary,
        released=state.started.tool_version,
    )
    cert = c.Certificate(
        schema_version=c.SCHEMA_VERSION,  # stated below, once the content is known
        run_id=state.started.run_id,
        issued_at=issued_at,
        status="rollback" if state.rollback else "completed",
        tool=c.Tool(name=TOOL_NAME, version=state.started.tool_version),
        baseline=baseline,
        subject=subject,
        edit=_edit(state.edit),
        dataset=dataset,
        pairing=pairing,
        primary_metric=pm,
        bootstrap=assessed.bootstrap,
        evidence=evidence,
        guards=guards,
        guard_overhead=overhead,
        secondary_metrics=secondary,
        policy=c.PolicySection(resolved=msgspec.to_builtins(policy), digest=state.started.policy_digest),
        validation=validation,
        verdict=verdict,
        provenance=msgspec.convert(
            {
                **_stated_as_recorded(state.started, c.Provenance),
                "event_log": event_log,
                "baseline_scoring": baseline_scoring(state),
                "guard_baseline": _guard_baseline(state.guard_source),
                "variance_baseline": variance_baseline(state.variance_source),
            },
            c.Provenance,
            from_attributes=True,
        ),
    )
    return c.seal(msgspec.structs.replace(cert, schema_version=c.schema_version_of(cert)))
