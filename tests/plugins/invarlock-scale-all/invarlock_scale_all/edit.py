"""`scale_all`: multiply every attention and FFN matrix by `factor`, through the WeightSource port."""

from __future__ import annotations

import math
from collections.abc import Mapping

from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import UsageError
from invarlock.domain.model import EditDeltas, EditOutcome
from invarlock.ports.model import WeightSource


class ScaleAllEdit:
    """Plan: `factor` (a finite number > 0)."""

    name = "scale_all"

    def apply(self, weights: WeightSource, plan: Mapping[str, object]) -> EditOutcome:
        factor = plan.get("factor")
        if set(plan) != {"factor"} or not isinstance(factor, int | float) or not math.isfinite(factor) or factor <= 0:
            raise UsageError("E204", "edit.plan of scale_all takes one key, factor > 0", "e.g. plan: {factor: 1.01}")
        changed, modules, blocks = 0, [], set()
        for matrix in weights.matrices():
            if matrix.family in ("attn", "ffn"):
                weights.assign(matrix.name, matrix.array * float(factor))
                changed += matrix.array.size
                modules.append(matrix.name.removesuffix(".weight"))
                blocks.add(matrix.block)
        resolved = {"factor": float(factor)}
        deltas = EditDeltas(
            params_changed=changed, layers_modified=len(blocks), modules_changed=tuple(modules), bitwidth_map={}
        )
        return EditOutcome(
            name=self.name, plan=resolved, plan_digest=sha256_hex(canonical_bytes(resolved)), deltas=deltas
        )
