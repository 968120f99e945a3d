"""certify_edit and resume_run: the one pipeline on a new stream, or on the stream of an incomplete run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from invarlock.domain import events as ev
from invarlock.domain.errors import (
    CertificateOnRecord,
    IntegrityError,
    InvarlockError,
    ResourceShortage,
    RunInterrupted,
    UsageError,
)
from invarlock.domain.policy import Policy
from invarlock.domain.run import RunState

from ..replay.listing import indexed_stream_problem
from ..replay.replay import audited_run, read_stream, replay_certificate
from ..services import Services
from .issuing import awaits_seal, seal
from .pipeline import run_pipeline
from .preflight import REQUEST_CHECKS, check_execution, preflight_of, run_checks
from .recorder import RunRecorder, resume_mismatch
from .run_request import CertifyOutcome, CertifyRequest, request_of, started_event
from .scoring_mode import with_scoring_mode

__all__ = ["CertifyOutcome", "CertifyRequest", "certify_edit", "resume_run"]


def certify_edit(req: CertifyRequest, svc: Services) -> CertifyOutcome:
    """Run the whole certification, recording every step. The preflight's request checks (policy, edit) run
    before the run is recorded, and how it holds its models is decided then (scoring_mode); every error after the
    start is recorded as RunFailed."""
    pf = preflight_of(req, svc)
    run_checks(pf, REQUEST_CHECKS, stop=True)  # nothing is recorded for a request that cannot run
    assert pf.policy is not None, "the policy check resolves it or raises"
    policy = pf.policy
    req = with_scoring_mode(req, svc)
    recorder = RunRecorder.start(svc.store, started_event(req, policy, svc.new_run_id(), svc))
    return _run_recording_failure(req, policy, recorder, svc)


def resume_run(run_id: str, svc: Services, export: str | None = None) -> CertifyOutcome:
    """Finish `run_id`: the same pipeline on its stream, with the models and data it recorded; checks they
    are the same and scores only what is left.

    Raises:
        UsageError: E404 unknown run, E406 the run failed, is already complete or is a re-execution audit.
        IntegrityError: E603 broken chain; E605 the models, data, policy or tool differ from the recording.

    A signed run stopped after run_completed only lacks its chain seal: it is sealed with `svc.signer`.
    """
    records = read_stream(svc.store, run_id)
    audited = audited_run(records)
    if audited is not None:
        raise UsageError(
            "E406",
            f"run {run_id} is a re-execution audit of run {audited}, not a certification, and cannot be resumed",
            "audit again with `invarlock verify CERT --baseline ...`; --resume continues certify and run",
        )
    problems = ev.chain_problems(records)
    if problems:
        raise IntegrityError("E603", f"event chain broken: {problems[0]}", "the event store was altered")
    _require_untampered(svc, run_id)
    recorder = RunRecorder(svc.store, records)
    if awaits_seal(recorder.state):
        return _seal_killed_run(recorder, svc)
    _require_resumable(recorder.state, svc)
    # the corpus is tokenized anew, not read from the token stream cache: the plan is compared with the recorded one,
    # and a damaged kept stream would fail the run for good (E605 is recorded) over what the cache can rebuild
    svc = dataclasses.replace(svc, tokens=None)
    request, policy = request_of(recorder.state, export)
    # the recorded execution backend is reached before the resumed run records anything (E105, E240)
    run_checks(preflight_of(request, svc, policy), (("execution", check_execution, ()),), stop=True)
    return _run_recording_failure(request, policy, recorder, svc, resuming=True)


def _require_untampered(svc: Services, run_id: str) -> None:
    """E603 when `invarlock runs` would list the run as tampered: its events rewritten (and re-linked) after
    they were appended, or events lost. A resume appends to the stream and re-indexes it, which would erase what
    shows the rewrite; it refuses instead."""
    problem = indexed_stream_problem(svc.index, run_id) if svc.index is not None else None
    if problem is not None:
        hint = "the event store was altered: certify the models again"
        raise IntegrityError("E603", f"run {run_id} cannot be resumed: {problem}", hint)


STORE_BUSY = "E505"  # the event store stayed locked by another process for the whole wait


def _run_recording_failure(
    req: CertifyRequest, policy: Policy, recorder: RunRecorder, svc: Services, *, resuming: bool = False
) -> CertifyOutcome:
    try:
        return run_pipeline(req, policy, recorder, svc)
    except ResourceShortage as exc:  # the machine, not the run: nothing recorded, resumable once there is room
        exc.stopped(recorder.run_id)
        raise
    except UsageError as exc:
        if exc.code == STORE_BUSY:  # another process held the store (a long audit query): the machine, not the run
            busy = ResourceShortage(exc.code, exc.message, exc.hint)
            busy.stopped(recorder.run_id)
            raise busy from exc
        if resuming:  # this resume's own inputs (a relative path read from another folder): the run stays resumable
            raise _still_resumable(exc, recorder.run_id) from exc
        recorder.record_failure(svc.clock(), exc.code, exc.message)
        raise
    except InvarlockError as exc:
        recorder.record_failure(svc.clock(), exc.code, exc.message)
        raise
    except KeyboardInterrupt as exc:  # nothing is recorded: the run stays resumable; say how to go on with it
        if isinstance(exc, RunInterrupted):
            raise
        done = recorder.state.completed is not None and not awaits_seal(recorder.state)
        raise RunInterrupted(recorder.run_id, done) from exc
    except BaseException as exc:  # a plugin's own code raised (sys.exit, a bare BaseException too): recorded as E224
        fault = svc.fault(exc)
        if fault is None:
            raise
        if resuming:  # as for a UsageError: the plugin may fail only now (its input unreadable); the run is kept
            raise _still_resumable(fault, recorder.run_id) from exc
        recorder.record_failure(svc.clock(), fault.code, fault.message)
        raise fault from exc


def _still_resumable(exc: InvarlockError, run_id: str) -> UsageError:
    """`exc` met by a resume, not recorded: its hint says the run can still be resumed."""
    again = (
        f"run {run_id} keeps what it recorded and is not failed: resume it again once this is fixed (relative paths "
        "are read from this folder)"
    )
    return UsageError(exc.code, exc.message, f"{exc.hint}; {again}" if exc.hint else again)


def _seal_killed_run(recorder: RunRecorder, svc: Services) -> CertifyOutcome:
    """A signed run killed between run_completed and chain_sealed: seal it with its key, return its certificate."""
    if svc.signer is None:
        raise UsageError(
            "E406",
            f"run {recorder.run_id} has its signed certificate but was stopped before its chain seal",
            "resume it with --sign-key of the key that signed it",
        )
    seal(recorder, svc.signer)
    return CertifyOutcome(run_id=recorder.run_id, certificate=replay_certificate(svc.store, recorder.run_id))


def _require_resumable(state: RunState, svc: Services) -> None:
    run_id = state.started.run_id
    if state.failed is not None:
        raise UsageError("E406", f"run {run_id} failed ({state.failed.code}) and cannot be resumed", "start a new run")
    if state.issued is not None or state.completed is not None:
        raise CertificateOnRecord("E406", f"run {run_id} already has its certificate", run_id)
    if state.started.tool_version != svc.tool_version:
        raise resume_mismatch(
            run_id, f"it was started by invarlock {state.started.tool_version}, this is {svc.tool_version}"
        )
    _require_same_environment(state, svc.environment())


PLUGIN_PREFIX = "plugin."  # the plugins a run uses, in its environment: each compared where it is loaded again


def _require_same_environment(state: RunState, here: Mapping[str, str]) -> None:
    """E605 when the machine differs from the one the run started on in what its scoring key records (libraries,
    platform, CPU, threads, GPUs): the windows left would be scored elsewhere while the certificate, and the key
    later runs copy its baseline scores by, state the first machine. Nothing is recorded: the run stays
    resumable where it started."""
    started = state.started.environment
    keys = {key for key in started.keys() | here.keys() if not key.startswith(PLUGIN_PREFIX)}  # plugins load later
    differs = sorted(key for key in keys if started.get(key) != here.get(key))
    if differs:
        key = differs[0]
        more = f" (and {len(differs) - 1} more: {', '.join(differs[1:])})" if len(differs) > 1 else ""
        raise IntegrityError(
            "E605",
            f"cannot resume run {state.started.run_id}: it was started where {key} was {started.get(key)!r}, here it "
            f"is {here.get(key)!r}{more}",
            "resume it on the machine it started on, with the same threads (OMP_NUM_THREADS) and libraries",
        )
