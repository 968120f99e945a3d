"""build_certificate(state): the certificate as a pure function of a run's folded events."""

from __future__ import annotations

import msgspec

from . import analysis, gates
from . import certificate as c
from . import events as ev
from .errors import IntegrityError
from .guards import sections as gs
from .guards.record import Verdict
from .guards.results import InvariantsResult
from .policy import policy_from_dict
from .run import RunState

TOOL_NAME = "invarlock"


def _model(m: ev.ModelFingerprinted) -> c.ModelSection:
    return c.ModelSection(
        ref=m.ref,
        adapter=m.adapter,
        architecture=m.architecture,
        weights_sha256=m.weights_sha256,
        tokenizer_sha256=m.tokenizer_sha256,
        config_sha256=m.config_sha256,
        param_count=m.param_count,
        dtype=m.dtype,
        device=m.device,
    )


def _edit(e: ev.EditApplied | None) -> c.EditSection:
    if e is None:
        return c.EditSection(name="external")
    deltas = {
        "params_changed": e.params_changed,
        "layers_modified": e.layers_modified,
        "modules_changed": e.modules_changed,
        "bitwidth_map": e.bitwidth_map,
    }
    return c.EditSection(name=e.name, plan=e.plan, plan_digest=e.plan_digest, deltas=deltas)


def _dataset(w: ev.WindowsPlanned) -> c.DatasetSection:
    count = {a: w.arms.count(a) for a in ("preview", "final", "calibration")}
    return c.DatasetSection(
        provider=w.provider,
        split=w.split,
        source=w.source,
        licence=w.licence,
        seq_len=w.seq_len,
        stride=w.stride,
        windows=c.ArmCount(**count),
        windows_available=w.windows_available,
        duplicates_dropped=w.duplicates_dropped,
        stream_tokens=w.stream_tokens,
        approximate_counts=w.approximate_counts,
        tokenizer_sha256=w.tokenizer_sha256,
        dataset_digest=w.dataset_digest,
        window_plan_digest=w.plan_digest,
    )


def plan_entries(w: ev.WindowsPlanned) -> list[c.PlanEntry]:
    """Every planned window (every arm, scored or not) in plan order."""
    return [
        c.PlanEntry(window_id=i, arm=a, digest=d)
        for i, d, a in zip(w.window_ids, w.window_digests, w.arms, strict=True)
    ]


def arm_evidence(state: RunState, arm: str) -> c.ArmEvidence | None:
    """Paired rows of one arm in plan order; None when the arm was not scored by both models."""
    windows = state.planned()
    plan = [
        (i, d) for i, d, a in zip(windows.window_ids, windows.window_digests, windows.arms, strict=True) if a == arm
    ]
    base, subj = state.scored("baseline", arm), state.scored("subject", arm)
    if not base and not subj:
        return None
    rows = c.ArmEvidence(window_ids=[], window_digests=[], tokens_scored=[], baseline_nll=[], subject_nll=[])
    for wid, digest in plan:
        b, s = base.get(wid), subj.get(wid)
        if b is None or s is None:
            continue
        if b.tokens_scored != s.tokens_scored or b.digest != s.digest:
            raise IntegrityError("E001", f"window {wid} was scored on different tokens by the two models", "")
        rows.window_ids.append(wid)
        rows.window_digests.append(digest)
        rows.tokens_scored.append(b.tokens_scored)
        rows.baseline_nll.append(b.nll_sum)
        rows.subject_nll.append(s.nll_sum)
    return rows


def guard_sections(guards: tuple[ev.GuardEvaluated, ...]) -> gs.GuardSections:
    """One section per guard. Invariants: mode, every phase's checks and verdict, overall verdict and
    timing. Measured guards: mode, timing, the recorded measurements and the outcome derived from them."""
    measured: dict[str, gs.MeasuredSection] = {}
    invariants = [g for g in guards if isinstance(g.result, InvariantsResult)]
    for g in guards:
        if not isinstance(g.result, InvariantsResult):
            measured[g.guard] = gs.measured_section(g.result, mode=g.mode, seconds=g.seconds)
    return msgspec.structs.replace(gs.GuardSections(invariants=_invariants(invariants)), **measured)


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


def _overhead(state: RunState, final: c.ArmEvidence | None, limit: float) -> c.GuardOverhead | None:
    repaired = sorted({name for g in state.guards for name in g.result.repairs})
    if not repaired or final is None:
        return None
    bare = state.scored("subject_bare", "final")
    if any(wid not in bare for wid in final.window_ids):
        raise IntegrityError(
            "E604", "a guard repaired the subject but the bare final arm was not scored", "the stream is incomplete"
        )
    return analysis.guard_overhead(final, [bare[wid].nll_sum for wid in final.window_ids], repaired, limit)


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
        plan=plan_entries(state.windows),
    )
    if evidence.final is None and not state.rollback:
        raise IntegrityError(
            "E604",
            "the final arm was never scored and no rollback was recorded",
            "the event stream is incomplete or altered",
        )
    policy = policy_from_dict(state.started.policy)
    seed = state.started.seeds["dataset"]
    dataset = _dataset(state.windows)
    pm = analysis.primary_metric(evidence, seed=seed, plan_digest=dataset.window_plan_digest, policy=policy)
    pairing = analysis.pairing_section(evidence, dataset)
    guards = guard_sections(state.guards)
    overhead = _overhead(state, evidence.final, policy.gates.guard_overhead_limit)
    baseline, subject = _model(state.models["baseline"]), _model(state.models["subject"])
    validation, verdict = gates.evaluate(pm, pairing, guards, baseline, subject, policy, overhead=overhead)
    cert = c.Certificate(
        schema_version=c.SCHEMA_VERSION,
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
        bootstrap=analysis.bootstrap_section(
            evidence, seed=seed, plan_digest=dataset.window_plan_digest, policy=policy
        ),
        evidence=evidence,
        guards=guards,
        guard_overhead=overhead,
        secondary_metrics=None,
        policy=c.PolicySection(resolved=state.started.policy, digest=state.started.policy_digest),
        validation=validation,
        verdict=verdict,
        provenance=c.Provenance(
            command=state.started.command,
            started_at=state.started.started_at,
            seeds=state.started.seeds,
            environment=state.started.environment,
            config=state.started.config,
            event_log=event_log,
        ),
    )
    return c.seal(cert)
