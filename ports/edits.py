"""Edit port: a weight edit applied in place through a model's `WeightSource`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol, runtime_checkable

from invarlock.domain.model import EditOutcome

from .model import WeightSource


class Edit(Protocol):
    """A named edit (the built-in one is `quant_rtn`)."""

    name: str

    def apply(self, weights: WeightSource, plan: Mapping[str, object]) -> EditOutcome:
        """Apply `plan` to the model's weights in place (reading `matrices()`/`census()`, writing with
        `assign`) and report the structural deltas.

        Raises UsageError E204 naming the plan key when the plan is invalid (before touching weights).
        """
        ...


@runtime_checkable
class PlanCheck(Protocol):
    """What an edit may add to `Edit`: its plan checked on its own, before any model is loaded (a plugin edit
    without it has its plan checked when it is applied)."""

    def check_plan(self, plan: Mapping[str, object]) -> None:
        """Raise UsageError E204 naming the plan key when `plan` is invalid whatever the model (unknown keys,
        missing or out-of-range values); what needs the weights (a weight's name) is checked by `apply`."""
        ...


@runtime_checkable
class WeightsPlanCheck(Protocol):
    """What an edit addressing weights by name may add: its plan checked against the names a model's loader tells
    before any weights load (ports.loader.MatrixNames). A plan naming no weight of the model otherwise fails when
    the edit applies: after the baseline loads, and in a run holding one model at a time after its whole pass."""

    def check_plan_weights(self, plan: Mapping[str, object], names: Collection[str]) -> None:
        """Raise UsageError E204 naming the plan key when `plan` (already accepted by `check_plan`) addresses a
        weight that is not among `names`, the model's 2-D parameter names (tied aliases included)."""
        ...


@runtime_checkable
class WeightShapesPlanCheck(Protocol):
    """What an edit whose plan must fit the shape of the weight it addresses may add: that plan checked against the
    shapes a model's loader tells before any weights load (ports.loader.MatrixShapes)."""

    def check_plan_shapes(self, plan: Mapping[str, object], shapes: Mapping[str, tuple[int, ...]]) -> None:
        """Raise UsageError E204 naming the plan key when `plan` (already accepted by `check_plan` and
        `check_plan_weights`) does not fit the shape `shapes` gives the weight it addresses."""
        ...
