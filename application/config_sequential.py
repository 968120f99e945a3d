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
    held = with_sequential(cfg, True)
    check_sequential(held, "--sequential", drop="or drop --sequential")
    return held


def with_sequential(cfg: RunConfig, sequential: bool) -> RunConfig:
    """`cfg` with `eval.sequential` set to `sequential` (unchecked)."""
    return msgspec.structs.replace(cfg, eval=msgspec.structs.replace(cfg.eval, sequential=sequential))


def check_sequential(cfg: RunConfig, source: str, drop: str = DROP) -> None:
    """UsageError E201 when `cfg` asks for sequential scoring together with something that needs both models
    at once (both_held_by_config). `source` names the config file (or the flag), `drop` how to turn sequential
    scoring off."""
    if not cfg.eval.sequential:
        return
    found = both_held_by_config(cfg)
    if found is not None:
        why, fix = found
        raise UsageError("E201", f"{source}: eval.sequential cannot hold one model at a time: {why}", f"{fix}, {drop}")


def both_held_by_config(cfg: RunConfig) -> tuple[str, str] | None:
    """What in `cfg` needs both models loaded together, and how to change it (None: nothing does): a metric kind
    that compares outputs, Ray actors or a plugin guard. (KL and top-1 agreement are measured from the baseline's
    kept side of them: ports.kept_reference.KeptReference.)"""
    kind = cfg.eval.metric.kind
    if not metric_for(kind).per_model_scores:
        alone = ", ".join(k for k, m in METRICS.items() if m.per_model_scores)
        return (
            f"eval.metric.kind {kind} compares both models' outputs together",
            f"use a kind scored by each model alone ({alone})",
        )
    if cfg.execution is not None and cfg.execution.backend == "ray":
        return "execution.backend ray holds both models in every actor", "use backend inprocess"
    plugins = [name for name in cfg.guards.order if name not in SUPPORTED_GUARDS]
    if plugins:
        return f"guard plugin {plugins[0]} reads both models together", "drop it from guards.order"
    return None
