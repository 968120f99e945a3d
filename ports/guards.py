"""Third-party guards: the measuring half of their contract (the deciding half is domain/guards/plugin.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from invarlock.domain.guards.plugin import GuardDecision

from .model import WeightSource

# Every member a plugin guard's object must have (checked when the composition root loads it: E223).
GUARD_MEMBERS = ("name", "settings", "measure", "decide")


@runtime_checkable
class PluginGuard(GuardDecision, Protocol):
    """A guard an installed distribution declares under `invarlock.guards` (docs/plugins.md, "Guards").

    It measures and decides; it never changes weights (the sources it gets refuse `assign` and
    `scale_weights`, and their arrays are read-only: a guard that tries stops the run with E221).
    """

    def measure(self, baseline: WeightSource, subject: WeightSource) -> Mapping[str, Mapping[str, float]]:
        """Named, finite numbers per matrix, e.g. {"model.layers.0.mlp.up_proj.weight": {"ratio": 1.01}}.

        Args:
            baseline: the baseline's weights (read through `matrices()`, `census()`, `unmapped()`).
            subject: the subject's weights as every guard before this one left them (repairs applied).

        Returns:
            matrix name → {value name → number}; every number must be finite (a non-finite one is E402).
        """
        ...
