"""Which registered entries a config uses (each third-party one is recorded in the run's provenance)."""

from __future__ import annotations

from invarlock.application.config import ModelConfig, RunConfig
from invarlock.domain.policy import GUARD_NAMES


def used_entries(cfg: RunConfig, subject: ModelConfig | None) -> list[tuple[str, str]]:
    """The (group, name) entries a run of `cfg` uses: adapters, the edit, the dataset provider, the metric kind
    and the guards of its order that are not built-in (plugin guards)."""
    used = [("adapters", cfg.model.adapter), ("datasets", cfg.dataset.provider), ("metrics", cfg.eval.metric.kind)]
    if subject is not None:
        used.append(("adapters", subject.adapter))
    if cfg.edit is not None:
        used.append(("edits", cfg.edit.name))
    used += [("guards", name) for name in dict.fromkeys(cfg.guards.order) if name not in GUARD_NAMES]
    return used
