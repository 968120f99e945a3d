"""Which registered entries a config uses, and a clear refusal of third-party guards and metrics.

Guards and metrics are typed end to end (tagged results, certificate sections, verify's recomputation), so in
this release only the built-in ones run; a plugin may list one, and a config naming it gets E221, not a run.
"""

from __future__ import annotations

from typing import Any

from invarlock.application.config import ModelConfig, RunConfig
from invarlock.domain.errors import UsageError

from .registry import Registry


def _named(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def refuse_plugin_kinds(data: Any, source: str, registry: Registry) -> None:
    """E221 when `data` (a decoded config) names a guard or metric kind only a third-party plugin provides."""
    order = _named(data, "guards", "order")
    named = [("guards", g) for g in order if isinstance(g, str)] if isinstance(order, list) else []
    kind = _named(data, "eval", "metric", "kind")
    if isinstance(kind, str):
        named.append(("metrics", kind))
    for group, name in named:
        entry = registry.entry(group, name)
        if entry is not None and not entry.builtin:
            where = "guards.order" if group == "guards" else "eval.metric.kind"
            raise UsageError(
                "E221",
                f"{source}: {where} names '{name}' from the plugin {entry.origin}, and only built-in {group} "
                "run in this release",
                f"use a built-in one (`invarlock plugins {group}`)",
            )


def used_entries(cfg: RunConfig, subject: ModelConfig | None) -> list[tuple[str, str]]:
    """The (group, name) entries a run of `cfg` uses: adapters, the edit and the dataset provider."""
    used = [("adapters", cfg.model.adapter), ("datasets", cfg.dataset.provider)]
    if subject is not None:
        used.append(("adapters", subject.adapter))
    if cfg.edit is not None:
        used.append(("edits", cfg.edit.name))
    return used
