"""Fake edits: scale a fake model's quality or one of its weights (re-exported by tests/fakes/models.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import UsageError
from invarlock.domain.model import EditDeltas, EditOutcome

if TYPE_CHECKING:
    from tests.fakes.models import FakeModel


@dataclass
class FakeScaleEdit:
    """Multiplies the fake model's quality by `plan['factor']` (a stand-in for a lossy edit)."""

    name: str = "fake_scale"
    applied: list[Mapping[str, object]] = field(default_factory=list)

    def apply(self, model: FakeModel, plan: Mapping[str, object]) -> EditOutcome:
        factor = plan.get("factor", 1.0)
        assert isinstance(factor, float)
        model.quality *= factor
        self.applied.append(plan)
        return EditOutcome(
            name=self.name,
            plan=dict(plan),
            plan_digest=sha256_hex(canonical_bytes(dict(plan))),
            deltas=EditDeltas(
                params_changed=16,
                layers_modified=1,
                modules_changed=("w",),
                bitwidth_map={},
            ),
        )


@dataclass
class FakeCheckedEdit(FakeScaleEdit):
    """FakeScaleEdit that also checks its plan on its own (ports.edits.PlanCheck): `factor` must be a float."""

    name: str = "fake_checked"
    checked: list[Mapping[str, object]] = field(default_factory=list)

    def check_plan(self, plan: Mapping[str, object]) -> None:
        self.checked.append(plan)
        if not isinstance(plan.get("factor", 1.0), float):
            raise UsageError("E204", f"edit.plan.factor = {plan['factor']!r} is not a number", "use e.g. 1.5")


@dataclass
class FakeWeightEdit:
    """Multiplies one named weight of the fake model by `plan['factor']`; checks that weight among the names a
    loader tells (ports.edits.WeightsPlanCheck), recording each list it was given."""

    name: str = "fake_weight"
    named: list[tuple[str, ...]] = field(default_factory=list)

    def check_plan_weights(self, plan: Mapping[str, object], names: Collection[str]) -> None:
        self.named.append(tuple(names))
        if plan["weight"] not in names:
            raise UsageError("E204", f"edit.plan.weight = {plan['weight']!r} is not a weight of this model", "fix it")

    def apply(self, model: FakeModel, plan: Mapping[str, object]) -> EditOutcome:
        weight, factor = str(plan["weight"]), plan["factor"]
        assert isinstance(factor, float)
        model.weights[weight] = model.weights[weight] * np.float32(factor)
        return EditOutcome(
            name=self.name,
            plan=dict(plan),
            plan_digest=sha256_hex(canonical_bytes(dict(plan))),
            deltas=EditDeltas(
                params_changed=int(model.weights[weight].size),
                layers_modified=1,
                modules_changed=(weight,),
                bitwidth_map={},
            ),
        )
