"""The pipeline's input steps: load and fingerprint both models, apply the edit, record the window plan.

Each input is recorded when the stream lacks it and compared when it holds it, so a resumed run proves it
is continuing with the same models, edit and windows (IntegrityError E605 otherwise)."""

from __future__ import annotations

import gc

from invarlock.domain import events as ev
from invarlock.domain.model import LoadOptions
from invarlock.domain.run import RunState
from invarlock.ports.model import DuplicableModel, LoadedModel, WeightSharingModel

from ..config import ModelConfig
from ..services import Services
from . import planning
from .edit_outcome import checked_outcome
from .model_identity import checked_identity, tokenizers_differ
from .run_context import RunContext


def load_models(ctx: RunContext) -> None:
    """Load baseline and subject (for `run`, a copy of the baseline plus the edit) and record or compare their
    fingerprints and the edit."""
    load_baseline(ctx)
    baseline, req = ctx.models["baseline"], ctx.request
    subject = subject_of(baseline, req.config.model, req.subject, req.config.eval.batch_size, ctx.svc)
    record_subject(ctx, subject)


def load_baseline(ctx: RunContext) -> None:
    """Load the baseline and record or compare its fingerprint."""
    req, recorder = ctx.request, ctx.recorder
    base_cfg = req.config.model
    baseline = load_model(base_cfg, req.config.eval.batch_size, ctx.svc)
    base_identity = checked_identity(baseline.identity(), base_cfg, recorder.state.started.environment)
    recorder.record_or_compare(ev.ModelFingerprinted(role="baseline", identity=base_identity), "baseline model")
    ctx.models["baseline"] = baseline


def load_subject_alone(ctx: RunContext) -> None:
    """A sequential run's subject, loaded once the baseline is released: a copy of the baseline taken just
    before (`run`, or the baseline's own reference and settings), so it holds only the weights its edit writes,
    or its own checkpoint read after the baseline's memory is freed. What the baseline's kept side of KL holds
    bit for bit in common with it is held once from then on (KeptReference.hold_once)."""
    req = ctx.request
    base_cfg, batch = req.config.model, req.config.eval.batch_size
    baseline = ctx.models.pop("baseline")
    twin = None
    if (req.subject is None or req.subject == base_cfg) and isinstance(baseline, DuplicableModel):
        twin = baseline.duplicate()
    del baseline
    gc.collect()  # the baseline's module holds reference cycles: free its weights before the subject loads
    subject = twin if twin is not None else load_model(req.subject or base_cfg, batch, ctx.svc)
    if ctx.recorded is not None and ctx.recorded.reference is not None:
        ctx.recorded.reference.hold_once(subject)
    record_subject(ctx, subject)


def record_subject(ctx: RunContext, subject: LoadedModel) -> None:
    """Apply the edit to `subject` (for `run`) and record or compare the edit and the subject's fingerprint."""
    req, recorder = ctx.request, ctx.recorder
    environment = recorder.state.started.environment
    if req.config.edit is not None:
        applied = ctx.svc.edits[req.config.edit.name].apply(subject, req.config.edit.plan)
        edit = checked_outcome(applied, req.config.edit, environment)
        recorder.record_or_compare(ev.EditApplied(outcome=edit), "edit")
    subject_identity = checked_identity(subject.identity(), req.subject or req.config.model, environment)
    recorder.record_or_compare(ev.ModelFingerprinted(role="subject", identity=subject_identity), "subject model")
    ctx.models["subject"] = subject


def record_plan(ctx: RunContext) -> None:
    """Both models and the plan share one tokenizer (AbortError E002); record or compare the plan."""
    state = ctx.recorder.state
    check_tokenizers(state)
    planning.check_planned_tokenizer(ctx.planned, state.models["baseline"].identity.tokenizer_sha256)
    ctx.recorder.record_or_compare(ctx.planned, "window plan")


def subject_of(
    baseline: LoadedModel, base_cfg: ModelConfig, subject: ModelConfig | None, batch_size: int | None, svc: Services
) -> LoadedModel:
    """The subject model before any edit: its own checkpoint, or, when it is the baseline's (`run`: an edit of
    the baseline in process; or the same model reference and settings), a duplicate of the loaded baseline
    when its adapter can duplicate it, so the checkpoint is read once. A subject read from its own checkpoint
    holds the weights it has bit for bit in common with the baseline once (WeightSharingModel)."""
    twin = None
    if (subject is None or subject == base_cfg) and isinstance(baseline, DuplicableModel):
        twin = baseline.duplicate()
    if twin is not None:
        return twin
    return sharing_with(baseline, load_model(subject or base_cfg, batch_size, svc))


def sharing_with(baseline: LoadedModel, subject: LoadedModel) -> LoadedModel:
    """`subject`, loaded from its own checkpoint, holding the weights it has bit for bit in common with the
    baseline once where its adapter can (WeightSharingModel); the same model, the same bits."""
    if isinstance(subject, WeightSharingModel):
        subject.share_equal_weights(baseline)
    return subject


def load_model(cfg: ModelConfig, batch_size: int | None, svc: Services) -> LoadedModel:
    return svc.loader.load(cfg.id, load_options(cfg, batch_size))


def load_options(cfg: ModelConfig, batch_size: int | None) -> LoadOptions:
    """How the run loads the model of `cfg`, everywhere it does (this process and every scoring worker)."""
    return LoadOptions(
        adapter=cfg.adapter, device=cfg.device, dtype=cfg.dtype, batch_size=batch_size, placement=cfg.placement
    )


def check_tokenizers(state: RunState) -> None:
    base, subj = state.models["baseline"].identity, state.models["subject"].identity
    if base.tokenizer_sha256 != subj.tokenizer_sha256:
        raise tokenizers_differ(base.tokenizer_sha256, subj.tokenizer_sha256)
