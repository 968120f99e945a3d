"""The checks of `eval.sequential: true` (one model held at a time, docs/reference/sequential.md): each thing
that needs both models loaded together is refused naming the config file (UsageError E201)."""

from __future__ import annotations

import msgspec
from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import METRICS, metric_for

from .config_sections import SUPPORTED_GUARDS, RunConfig

DROP = "or drop eval.sequential"


def held_one_at_a_time(cfg: RunConfig) -> RunConfig:
    """`cfg` with `eval.sequential: true`: what `--sequential` runs. UsageError E201 (naming the flag) when the
    config asks for a thing that needs both models loaded together."""
    held = msgspec.structs.replace(cfg, eval=msgspec.structs.replace(cfg.eval, sequential=True))
    check_sequential(held, "--sequential", drop="or drop --sequential")
    return held


def check_sequential(cfg: RunConfig, source: str, drop: str = DROP) -> None:
    """UsageError E201 when `cfg` asks for sequential scoring together with something that needs both models
    at once: a metric kind that compares outputs, Ray actors or a plugin guard. (KL and top-1 agreement are
    measured from the baseline's kept side of them: ports.model.KeptReference.)
    `source` names the config file (or the flag), `drop` how to turn sequential scoring off."""
    if not cfg.eval.sequential:
        return
    kind = cfg.eval.metric.kind
    if not metric_for(kind).per_model_scores:
        alone = ", ".join(k for k, m in METRICS.items() if m.per_model_scores)
        why = f"eval.metric.kind {kind} compares both models' outputs together"
        _refuse(source, why, f"use a kind scored by each model alone ({alone}), {drop}")
    if cfg.execution is not None and cfg.execution.backend == "ray":
        _refuse(source, "execution.backend ray holds both models in every actor", f"use backend inprocess, {drop}")
    plugins = [name for name in cfg.guards.order if name not in SUPPORTED_GUARDS]
    if plugins:
        _refuse(source, f"guard plugin {plugins[0]} reads both models together", f"drop it from guards.order, {drop}")


def _refuse(source: str, why: str, hint: str) -> None:
    raise UsageError("E201", f"{source}: eval.sequential cannot hold one model at a time: {why}", hint)
