"""The checks of `eval.sequential: true` (one model held at a time, docs/reference/sequential.md): each thing
that needs both models loaded together is refused naming the config file (UsageError E201)."""

from __future__ import annotations

from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import METRICS, metric_for

from .config_sections import SUPPORTED_GUARDS, RunConfig

DROP = "or drop eval.sequential"


def check_sequential(cfg: RunConfig, source: str) -> None:
    """UsageError E201 when `cfg` asks for sequential scoring together with something that needs both models
    at once: paired measures (KL, top-1), a metric kind that compares outputs, Ray actors or a plugin guard."""
    if not cfg.eval.sequential:
        return
    kind = cfg.eval.metric.kind
    if not metric_for(kind).per_model_scores:
        alone = ", ".join(k for k, m in METRICS.items() if m.per_model_scores)
        why = f"eval.metric.kind {kind} compares both models' outputs together"
        _refuse(source, why, f"use a kind scored by each model alone ({alone}), {DROP}")
    if cfg.eval.measures_pairs:
        _refuse(
            source,
            "KL and top-1 agreement (eval.secondary) need both models' logits together",
            f"set eval.secondary.measure: false, {DROP}",
        )
    if cfg.execution is not None and cfg.execution.backend == "ray":
        _refuse(source, "execution.backend ray holds both models in every actor", f"use backend inprocess, {DROP}")
    plugins = [name for name in cfg.guards.order if name not in SUPPORTED_GUARDS]
    if plugins:
        _refuse(source, f"guard plugin {plugins[0]} reads both models together", f"drop it from guards.order, {DROP}")


def _refuse(source: str, why: str, hint: str) -> None:
    raise UsageError("E201", f"{source}: eval.sequential cannot hold one model at a time: {why}", hint)
