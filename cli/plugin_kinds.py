"""Which registered entries a config uses, and a clear refusal of third-party guards.

Guards are typed end to end (tagged results, certificate sections, verify's recomputation), so in this release
only the built-in ones run; a plugin may list one, and a config naming it gets E221, not a run. A third-party
metric kind runs (cli/plugin_metrics.py).
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
    """E221 when `data` (a decoded config) names a guard only a third-party plugin provides."""
    order = _named(data, "guards", "order")
    for name in [g for g in order if isinstance(g, str)] if isinstance(order, list) else []:
        entry = registry.entry("guards", name)
        if entry is not None and not entry.builtin:
            raise UsageError(
                "E221",
                f"{source}: guards.order names '{name}' from the plugin {entry.origin}, and only built-in guards "
                "run in this release",
                "use a built-in one (`invarlock plugins guards`)",
            )


def used_entries(cfg: RunConfig, subject: ModelConfig | None) -> list[tuple[str, str]]:
    """The (group, name) entries a run of `cfg` uses: adapters, the edit, the dataset provider, the metric kind."""
    used = [("adapters", cfg.model.adapter), ("datasets", cfg.dataset.provider), ("metrics", cfg.eval.metric.kind)]
    if subject is not None:
        used.append(("adapters", subject.adapter))
    if cfg.edit is not None:
        used.append(("edits", cfg.edit.name))
    return used
