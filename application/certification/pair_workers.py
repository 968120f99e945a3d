"""What a scoring worker is handed (the run's PairSpec) and how it rebuilds the run's two models from it."""

from __future__ import annotations

from collections.abc import Mapping

from invarlock.domain.errors import IntegrityError
from invarlock.ports.edits import Edit
from invarlock.ports.execution import ModelSpec, PairSpec
from invarlock.ports.loader import ModelLoader
from invarlock.ports.model import DuplicableModel, LoadedModel

from ..config import ModelConfig
from .input_steps import load_options, sharing_with
from .run_context import RunContext


def _model_spec(cfg: ModelConfig, batch_size: int | None) -> ModelSpec:
    return ModelSpec(ref=cfg.id, options=load_options(cfg, batch_size))


def pair_spec(ctx: RunContext) -> PairSpec:
    """The run's two models as configured, placement included (a worker resolves `auto` device and adapter,
    and a device map, on its own machine), with the weights digests the run recorded and the repairs the
    guard chain settled on."""
    req, models = ctx.request, ctx.recorder.state.models
    batch, edit = req.config.eval.batch_size, req.config.edit
    return PairSpec(
        baseline=_model_spec(req.config.model, batch),
        subject=_model_spec(req.subject or req.config.model, batch),
        baseline_sha256=models["baseline"].identity.weights_sha256,
        subject_sha256=models["subject"].identity.weights_sha256,
        edit_name=edit.name if edit is not None else None,
        edit_plan=dict(edit.plan) if edit is not None else {},
        repairs=dict(ctx.repairs),
    )


def build_pair(spec: PairSpec, loader: ModelLoader, edits: Mapping[str, Edit]) -> tuple[LoadedModel, LoadedModel]:
    """A worker's (baseline, subject): loaded, the subject edited, both checked against the run's weights
    digests (IntegrityError E605 when a worker holds other weights), then the subject repaired. A subject of
    the baseline's reference and options is a duplicate of it, any other holds the weights it has in common
    with the baseline once, as in the run's own process (input_steps)."""
    baseline = loader.load(spec.baseline.ref, spec.baseline.options)
    _require_digest(baseline, spec.baseline_sha256, "baseline")
    twin = baseline.duplicate() if spec.subject == spec.baseline and isinstance(baseline, DuplicableModel) else None
    subject = twin if twin is not None else sharing_with(baseline, loader.load(spec.subject.ref, spec.subject.options))
    if spec.edit_name is not None:
        edits[spec.edit_name].apply(subject, dict(spec.edit_plan))
    _require_digest(subject, spec.subject_sha256, "subject")
    if spec.repairs:
        subject.scale_weights(dict(spec.repairs))
    return baseline, subject


def _require_digest(model: LoadedModel, expected: str, role: str) -> None:
    found = model.identity().weights_sha256
    if found != expected:
        raise IntegrityError(
            "E605",
            f"a scoring worker's {role} has weights {found[:12]}, the run recorded {expected[:12]}",
            "install the same models at the same paths on every Ray worker (docs/reference/ray.md)",
        )
