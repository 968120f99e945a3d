"""resume_run: continue an incomplete run from its own events, re-scoring nothing already scored."""

from __future__ import annotations

from typing import Any

import msgspec
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError, InvarlockError, UsageError
from invarlock.domain.policy import Policy, policy_digest
from invarlock.domain.run import RunState
from invarlock.ports.model import LoadedModel

from . import planning
from .certify import CertifyOutcome, CertifyRequest, check_tokenizers, finish_scoring, load_models
from .config import ModelConfig, parse_config
from .guard_chain import ChainContext, run_chain
from .guards import RUNNERS
from .recorder import RunRecorder
from .replay import read_stream
from .services import Services


def resume_run(run_id: str, svc: Services, export: str | None = None) -> CertifyOutcome:
    """Finish `run_id`: reload the models and data it recorded, check they are the same, score the rest.

    Raises:
        UsageError: E404 unknown run, E406 the run failed or is already complete.
        IntegrityError: E603 broken chain; E605 the models, data, policy or tool differ from the recording.
    """
    records = read_stream(svc.store, run_id)
    problems = ev.chain_problems(records)
    if problems:
        raise IntegrityError("E603", f"event chain broken: {problems[0]}", "the event store was altered")
    recorder = RunRecorder(svc.store, run_id, records)
    state = recorder.state
    assert state is not None
    _require_resumable(state, svc)
    request, policy = request_of(state)
    try:
        return _continue(request, policy, recorder, svc, export)
    except InvarlockError as exc:
        recorder.record_failure(svc.clock(), exc.code, exc.message)
        raise


def _require_resumable(state: RunState, svc: Services) -> None:
    run_id = state.started.run_id
    if state.failed is not None:
        raise UsageError("E406", f"run {run_id} failed ({state.failed.code}) and cannot be resumed", "start a new run")
    if state.issued is not None or state.completed is not None:
        raise UsageError("E406", f"run {run_id} already has its certificate", f"use `invarlock replay {run_id}`")
    if state.started.tool_version != svc.tool_version:
        raise _differs(run_id, f"it was started by invarlock {state.started.tool_version}, this is {svc.tool_version}")


def request_of(state: RunState) -> tuple[CertifyRequest, Policy]:
    """The request and the policy exactly as the run recorded them."""
    started = state.started
    config: dict[str, Any] = dict(started.config)
    subject = config.pop("subject", None)
    cfg = parse_config(config, source=f"run {started.run_id}")
    policy = started.policy
    if policy_digest(policy) != started.policy_digest:
        raise _differs(started.run_id, "its recorded policy does not match its policy digest")
    request = CertifyRequest(
        command=started.command,
        config=cfg,
        subject=msgspec.convert(subject, ModelConfig) if subject else None,
        tier=policy.tier,
        profile=policy.profile,
    )
    return request, policy


def _continue(
    req: CertifyRequest, policy: Policy, recorder: RunRecorder, svc: Services, export: str | None
) -> CertifyOutcome:
    models = load_models(req, svc, lambda event, what: _same_or_record(recorder, event, what))
    state = recorder.state
    assert state is not None
    check_tokenizers(state)
    rows = _replan(req, policy, recorder, models, svc)
    ctx = ChainContext(recorder=recorder, models=models, policy=policy, rows=rows, progress=svc.progress)
    run_chain(req.config.guards.order, ctx, RUNNERS)  # recorded guards are skipped, their repairs re-applied
    return finish_scoring(ctx, svc, export=export)


def _replan(
    req: CertifyRequest, policy: Policy, recorder: RunRecorder, models: dict[str, LoadedModel], svc: Services
) -> dict[int, Any]:
    ds = req.config.dataset
    corpus = svc.corpora.open(ds.provider, path=ds.source_path, text_field=ds.text_field, split=ds.split)
    planned, rows = planning.plan(corpus, models["baseline"].tokenizer(), ds, allow_fewer=not policy.enforce_floors)
    _same_or_record(recorder, planned, "window plan")
    return rows


def _same_or_record(recorder: RunRecorder, event: ev.Event, what: str) -> None:
    state = recorder.state
    assert state is not None
    recorded = _recorded(state, event)
    if recorded is None:
        recorder.record(event)
    elif recorded != event:
        raise _differs(state.started.run_id, f"the {what} is not the one it recorded")


def _recorded(state: RunState, event: ev.Event) -> ev.Event | None:
    if isinstance(event, ev.ModelFingerprinted):
        return state.models.get(event.role)
    if isinstance(event, ev.WindowsPlanned):
        return state.windows
    if isinstance(event, ev.EditApplied):
        return state.edit
    raise AssertionError(f"not a resumable step: {type(event).__name__}")


def _differs(run_id: str, why: str) -> IntegrityError:
    return IntegrityError(
        "E605", f"cannot resume run {run_id}: {why}", "resume with the same models, data and invarlock version"
    )
