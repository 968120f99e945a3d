"""The checks of `eval.sequential: true` (one model held at a time, docs/reference/sequential.md): each thing
that needs both models loaded together is refused naming the config file (UsageError E201)."""

from __future__ import annotations

import msgspec
from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import METRICS, metric_for

from .config_sections import SUPPORTED_GUARDS, RunConfig

DROP = "or drop eval.sequential"


def held_one_at_a_time(cfg: RunConfig) -> RunConfig:
    """`cfg` with `eval.sequential: true` and, unless the config asks for them, no paired measures (KL, top-1
    agreement need both models at once): what `--sequential` runs. UsageError E200 when the config measures them
    or gates on them, E201 (naming the flag) when it asks for another thing that needs both models."""
    secondary = cfg.eval.secondary
    if secondary.measure is True or secondary.gate:
        asked = "eval.secondary.measure: true" if secondary.measure is True else "eval.secondary.gate: true"
        raise UsageError(
            "E200",
            f"--sequential holds one model at a time, and the config asks for KL and top-1 agreement ({asked}), "
            "which need both models' logits together",
            "drop --sequential, or that key from the config",
        )
    evaluation = msgspec.structs.replace(
        cfg.eval, sequential=True, secondary=msgspec.structs.replace(secondary, measure=False)
    )
    held = msgspec.structs.replace(cfg, eval=evaluation)
    check_sequential(held, "--sequential", drop="or drop --sequential")
    return held


def check_sequential(cfg: RunConfig, source: str, drop: str = DROP) -> None:
    """UsageError E201 when `cfg` asks for sequential scoring together with something that needs both models
    at once: paired measures (KL, top-1), a metric kind that compares outputs, Ray actors or a plugin guard.
    `source` names the config file (or the flag), `drop` how to turn sequential scoring off."""
    if not cfg.eval.sequential:
        return
    kind = cfg.eval.metric.kind
    if not metric_for(kind).per_model_scores:
        alone = ", ".join(k for k, m in METRICS.items() if m.per_model_scores)
        why = f"eval.metric.kind {kind} compares both models' outputs together"
        _refuse(source, why, f"use a kind scored by each model alone ({alone}), {drop}")
    if cfg.eval.measures_pairs:
        _refuse(
            source,
            "KL and top-1 agreement (eval.secondary) need both models' logits together",
            f"set eval.secondary.measure: false, {drop}",
        )
    if cfg.execution is not None and cfg.execution.backend == "ray":
        _refuse(source, "execution.backend ray holds both models in every actor", f"use backend inprocess, {drop}")
    plugins = [name for name in cfg.guards.order if name not in SUPPORTED_GUARDS]
    if plugins:
        _refuse(source, f"guard plugin {plugins[0]} reads both models together", f"drop it from guards.order, {drop}")


def _refuse(source: str, why: str, hint: str) -> None:
    raise UsageError("E201", f"{source}: eval.sequential cannot hold one model at a time: {why}", hint)
