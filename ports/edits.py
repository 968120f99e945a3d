"""Edit port: a weight edit applied in place to a loaded model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from invarlock.domain.model import EditOutcome

from .model import LoadedModel


class Edit(Protocol):
    """A named edit (the built-in one is `quant_rtn`)."""

    name: str

    def apply(self, model: LoadedModel, plan: Mapping[str, object]) -> EditOutcome:
        """Apply `plan` to `model` in place and report the structural deltas.

        Raises UsageError E204 naming the plan key when the plan is invalid (before touching weights).
        """
        ...
