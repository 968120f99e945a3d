"""certify_edit: score baseline and subject on the same windows, run the guard chain, issue the certificate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.build import build_certificate
from invarlock.domain.errors import AbortError, InvarlockError, UsageError
from invarlock.domain.policy import Policy, policy_digest, resolve_policy
from invarlock.domain.run import RunState
from invarlock.ports.model import LoadedModel

from . import planning
from .config import ModelConfig, RunConfig, config_to_dict
from .guard_chain import ChainContext, run_chain
from .guards import RUNNERS
from .recorder import RunRecorder
from .scoring import score_arm
from .services import Services
from .signing import seal_chain, sign_certificate


@dataclass(frozen=True)
class CertifyRequest:
    """What to certify: the config (baseline model, data, edit, guards) and, for Compare & Certify, a subject."""

    command: str
    config: RunConfig
    subject: ModelConfig | None
    tier: str
    profile: str
    export: str | None = None


@dataclass(frozen=True)
class CertifyOutcome:
    run_id: str
    certificate: c.Certificate


def _policy(req: CertifyRequest) -> Policy:
    guards = req.config.guards
    policy = resolve_policy(req.tier, req.profile, guard_overrides=guards.overrides(), guard_order=guards.order)
    ds = req.config.dataset
    if policy.enforce_floors and min(ds.preview_n, ds.final_n) < policy.min_windows:
        raise UsageError(
            "E005",
            f"profile {req.profile} at tier {req.tier} needs >= {policy.min_windows} windows "
            f"per arm (config asks preview_n={ds.preview_n}, final_n={ds.final_n})",
            "raise dataset.preview_n/final_n or use --profile dev",
        )
    order = req.config.guards.order
    missing = [g for g in ("spectral", "rmt", "variance") if g not in order]
    if req.profile == "release" and missing:
        raise UsageError(
            "E005", f"profile release evaluates every guard; guards.order lacks {', '.join(missing)}", "add them"
        )
    need = policy.guards.variance.min_calibration_windows
    if "variance" in order and ds.calibration_n < need:
        raise UsageError(
            "E005",
            f"the variance guard needs dataset.calibration_n >= {need} (config asks {ds.calibration_n})",
            f"set dataset.calibration_n to {need} or more, or drop variance from guards.order",
        )
    return policy


def certify_edit(req: CertifyRequest, svc: Services) -> CertifyOutcome:
    """Run the whole certification, recording every step. Errors after the start are recorded as RunFailed."""
    policy = _policy(req)
    if req.subject is None and req.config.edit is None:
        raise UsageError("E201", "nothing to certify: no subject model and no edit", "pass --subject or edit:")
    if req.config.edit is not None and req.config.edit.name not in svc.edits:
        raise UsageError("E204", f"unknown edit '{req.config.edit.name}'", f"available: {', '.join(svc.edits)}")
    run_id = svc.new_run_id()
    recorder = RunRecorder(svc.store, run_id)
    recorder.record(_started(req, policy, run_id, svc))
    try:
        return _execute(req, policy, recorder, svc)
    except InvarlockError as exc:
        recorder.record_failure(svc.clock(), exc.code, exc.message)
        raise


def _started(req: CertifyRequest, policy: Policy, run_id: str, svc: Services) -> ev.RunStarted:
    config = config_to_dict(req.config)
    if req.subject is not None:
        config["subject"] = msgspec.to_builtins(req.subject)
    seed = req.config.dataset.seed
    return ev.RunStarted(
        run_id=run_id,
        command=req.command,
        started_at=svc.clock(),
        tool_version=svc.tool_version,
        config=config,
        policy=policy,
        policy_digest=policy_digest(policy),
        seeds={"dataset": seed, "python": seed, "numpy": seed, "torch": seed},
        environment=svc.environment(),
    )


def load_model(cfg: ModelConfig, batch_size: int | None, svc: Services) -> LoadedModel:
    return svc.loader.load(cfg.id, adapter=cfg.adapter, device=cfg.device, dtype=cfg.dtype, batch_size=batch_size)


def load_models(
    req: CertifyRequest, svc: Services, record: Callable[[ev.Event, str], object]
) -> dict[str, LoadedModel]:
    """Load baseline and subject (the subject is the baseline plus the edit for `run`) and pass each
    fingerprint and the edit to `record(event, what)`: a new run records them, a resumed one compares them."""
    base_cfg = req.config.model
    batch = req.config.eval.batch_size
    baseline = load_model(base_cfg, batch, svc)
    record(ev.ModelFingerprinted(role="baseline", identity=baseline.identity()), "baseline model")
    subject = load_model(req.subject or base_cfg, batch, svc)
    if req.config.edit is not None:
        outcome = svc.edits[req.config.edit.name].apply(subject, req.config.edit.plan)
        record(ev.EditApplied(outcome=outcome), "edit")
    record(ev.ModelFingerprinted(role="subject", identity=subject.identity()), "subject model")
    return {"baseline": baseline, "subject": subject}


def check_tokenizers(state: RunState) -> None:
    base, subj = state.models["baseline"].identity, state.models["subject"].identity
    if base.tokenizer_sha256 != subj.tokenizer_sha256:
        raise AbortError(
            "E002",
            f"tokenizers differ: baseline {base.tokenizer_sha256[:12]} vs subject {subj.tokenizer_sha256[:12]}",
            "certify a subject that shares the baseline's tokenizer",
        )


def _execute(req: CertifyRequest, policy: Policy, recorder: RunRecorder, svc: Services) -> CertifyOutcome:
    ds, fewer = req.config.dataset, not policy.enforce_floors
    planned, rows = planning.plan_before_loading(svc.loader, svc.corpora, req.config.model, ds, allow_fewer=fewer)
    models = load_models(req, svc, lambda event, _what: recorder.record(event))
    state = recorder.state
    assert state is not None
    check_tokenizers(state)
    planning.check_planned_tokenizer(planned, state.models["baseline"].identity.tokenizer_sha256)
    recorder.record(planned)
    ctx = ChainContext(recorder=recorder, models=models, policy=policy, rows=rows, progress=svc.progress)
    run_chain(req.config.guards.order, ctx, RUNNERS)
    return finish_scoring(ctx, svc, export=req.export)


def finish_scoring(ctx: ChainContext, svc: Services, export: str | None = None) -> CertifyOutcome:
    """Preview arm, catastrophe check, final arm (and, when a guard repaired the subject, the final arm of
    the bare subject for the guard-overhead gate), certificate, export. Also the tail of a resumed run."""
    recorder, models, rows, policy = ctx.recorder, ctx.models, ctx.rows, ctx.policy
    state = recorder.state
    assert state is not None
    if state.preview is None:
        score_arm(recorder, models, "preview", rows, svc.progress)
        state = recorder.record(_assess_preview(recorder, policy))
    assert state.preview is not None
    if state.preview.catastrophe and state.rollback is None:
        reason = f"preview ratio {state.preview.ratio:.4f} > {policy.gates.catastrophe_ratio}"
        state = recorder.record(ev.RollbackPerformed(reason=reason))
    if state.rollback is None:
        score_arm(recorder, models, "final", rows, svc.progress)
        if ctx.repairs:
            _score_bare(ctx, svc)
    outcome = issue(recorder, svc)
    if export is not None and state.rollback is None:
        _export(ctx, export)
    return outcome


def _score_bare(ctx: ChainContext, svc: Services) -> None:
    """Undo every repair, check the subject is bit for bit the one fingerprinted, score the final arm."""
    subject = ctx.models["subject"]
    subject.scale_weights({})
    state = ctx.recorder.state
    assert state is not None
    if subject.identity().weights_sha256 != state.models["subject"].identity.weights_sha256:
        raise AbortError("E605", "undoing the guard repairs did not restore the subject", "report this bug")
    score_arm(ctx.recorder, {"subject_bare": subject}, "final", ctx.rows, svc.progress)
    subject.scale_weights(ctx.repairs)


def _export(ctx: ChainContext, directory: str) -> None:
    ctx.models["subject"].export(directory)


def _assess_preview(recorder: RunRecorder, policy: Policy) -> ev.PreviewAssessed:
    from invarlock.domain.build import arm_evidence
    from invarlock.domain.metrics import recorded_metric

    assert recorder.state is not None
    evidence = arm_evidence(recorder.state, "preview")
    assert evidence is not None
    metric = recorded_metric(recorder.state.started.config)
    preview = metric.arm_statistic(evidence)
    catastrophe = metric.catastrophe(preview, policy) is not None
    return ev.PreviewAssessed(
        ratio=preview.ratio, catastrophe_ratio=policy.gates.catastrophe_ratio, catastrophe=catastrophe
    )


def _issued(cert: c.Certificate) -> ev.CertificateIssued:
    s = cert.signature
    return ev.CertificateIssued(
        issued_at=cert.issued_at,
        certificate_digest=cert.digest,
        signature_key_fingerprint=None if s is None else s.key_fingerprint,
        signature_value=None if s is None else s.value,
    )


def issue(recorder: RunRecorder, svc: Services) -> CertifyOutcome:
    """Build, seal, sign (with `svc.signer`) and record the certificate, complete the run and, when signing,
    append a chain_sealed event signing the chain head (run_completed)."""
    state = recorder.state
    assert state is not None
    ref = c.EventLogRef(run_id=recorder.run_id, head_hash=recorder.head_hash, event_count=recorder.seq)
    cert = build_certificate(state, issued_at=svc.clock(), event_log=ref)
    if svc.signer is not None:
        cert = sign_certificate(cert, svc.signer)
    completed = ev.RunCompleted(finished_at=svc.clock(), status=cert.status, verdict=cert.verdict.status)
    recorder.record(_issued(cert), completed)  # one transaction: no certificate without its completion
    if svc.signer is not None:
        recorder.record(seal_chain(recorder.run_id, recorder.seq - 1, recorder.head_hash, svc.signer))
    return CertifyOutcome(run_id=recorder.run_id, certificate=cert)
