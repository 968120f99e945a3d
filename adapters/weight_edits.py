"""Built-in diagnostic edits on one 2-D weight: the harmful suite calibrating the guards (docs/assurance/guards.md §6).

`scale_weight`, `remove_top_singular` and `gaussian_noise` each change exactly one parameter in place (and,
through shared storage, every parameter tied to it; the outcome lists those too). A weight is addressed by
its parameter name, e.g. "model.layers.15.self_attn.o_proj.weight"; its matrix is the WeightSource's (out, in)
float32 view (a GPT-2 Conv1D weight stored (in, out) is transposed by the adapter), and the result is written
back with `WeightSource.assign`, which rounds once into the weight's dtype and layout.
The plan is validated in full (UsageError E204 naming `edit.plan.<key>`) before any weight changes.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import UsageError
from invarlock.domain.model import EditDeltas, EditOutcome
from invarlock.ports.model import WeightSource


class _OneWeightEdit:
    """What the three edits share: the plan's `weight` checked against a model's names before it loads."""

    def check_plan_weights(self, plan: Mapping[str, object], names: Collection[str]) -> None:
        """ports.edits.WeightsPlanCheck: UsageError E204 when the plan's weight is not among the model's `names`."""
        weight, listed = str(plan["weight"]), list(names)
        if weight not in listed:
            raise _not_a_weight(weight, listed)


class ScaleWeightEdit(_OneWeightEdit):
    """ports.edits.Edit: multiplies one weight by a constant.

    Plan keys:
        weight (required): name of a 2-D parameter of the model.
        factor (required): the multiplier, a finite number > 0 (3 triples every singular value).
    """

    name = "scale_weight"

    def check_plan(self, plan: Mapping[str, object]) -> None:
        """ports.edits.PlanCheck: UsageError E204 naming the key of a plan no model can take."""
        self._resolved(plan)

    def _resolved(self, plan: Mapping[str, object]) -> dict[str, object]:
        resolved = _resolve(self.name, plan, ("weight", "factor"), {})
        resolved["factor"] = _positive(resolved, "factor")
        return resolved

    def apply(self, weights: WeightSource, plan: Mapping[str, object]) -> EditOutcome:
        """Scale the weight in place; raises UsageError E204 on a bad plan before any change."""
        resolved = self._resolved(plan)
        target = _target(weights, str(resolved["weight"]))
        weights.assign(target.name, torch.from_numpy(target.rows).mul(resolved["factor"]).numpy())
        return target.outcome(self.name, resolved)


class RemoveTopSingularEdit(_OneWeightEdit):
    """ports.edits.Edit: removes the k largest singular components of one weight.

    W ← W − Σ_{i<k} σ_i u_i v_iᵀ, from a float64 SVD of the (out, in) matrix, written back in the weight's
    dtype; afterwards the largest singular value is the old σ_k (0-based).

    Plan keys:
        weight (required): name of a 2-D parameter of the model.
        k (required): how many components to remove, an integer with 1 <= k < min(out, in).
    """

    name = "remove_top_singular"

    def check_plan(self, plan: Mapping[str, object]) -> None:
        """ports.edits.PlanCheck: UsageError E204 naming the key of a plan no model can take."""
        _integer(_resolve(self.name, plan, ("weight", "k"), {}), "k", 1, "use e.g. k: 8")

    def apply(self, weights: WeightSource, plan: Mapping[str, object]) -> EditOutcome:
        """Remove the top-k components in place; raises UsageError E204 on a bad plan before any change."""
        resolved = _resolve(self.name, plan, ("weight", "k"), {})
        top = _integer(resolved, "k", 1, "use e.g. k: 8")
        target = _target(weights, str(resolved["weight"]))
        _check_rank(top, target.rows.shape)
        matrix = torch.from_numpy(target.rows).to(torch.float64)
        u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
        weights.assign(target.name, (matrix - (u[:, :top] * s[:top]) @ vh[:top]).numpy())
        return target.outcome(self.name, resolved)

    def check_plan_shapes(self, plan: Mapping[str, object], shapes: Mapping[str, tuple[int, ...]]) -> None:
        """ports.edits.WeightShapesPlanCheck: UsageError E204 when k is not below the weight's smaller side."""
        resolved = _resolve(self.name, plan, ("weight", "k"), {})
        shape = shapes.get(str(resolved["weight"]))
        if shape is not None:
            _check_rank(_integer(resolved, "k", 1, "use e.g. k: 8"), shape)


def _check_rank(top: int, shape: tuple[int, ...]) -> None:
    if top >= min(shape):
        raise _plan_error("k", f"= {top} is not below min{tuple(shape)}", "pick a smaller k")


class GaussianNoiseEdit(_OneWeightEdit):
    """ports.edits.Edit: adds seeded Gaussian noise to one weight.

    W += N(0, (rms_fraction · rms(W))²) per element, drawn in float64 on CPU from a torch.Generator seeded
    with `seed` in (out, in) order, so the same plan draws the same noise on every run and device.

    Plan keys:
        weight (required): name of a 2-D parameter of the model.
        rms_fraction (required): noise standard deviation relative to the weight's RMS, a finite number > 0.
        seed (default 0): generator seed, an integer in [0, 2**63).
    """

    name = "gaussian_noise"

    def check_plan(self, plan: Mapping[str, object]) -> None:
        """ports.edits.PlanCheck: UsageError E204 naming the key of a plan no model can take."""
        self._resolved(plan)

    def _resolved(self, plan: Mapping[str, object]) -> dict[str, object]:
        resolved = _resolve(self.name, plan, ("weight", "rms_fraction"), {"seed": 0})
        resolved["rms_fraction"] = _positive(resolved, "rms_fraction")
        _integer(resolved, "seed", 0, "use e.g. seed: 0")
        return resolved

    def apply(self, weights: WeightSource, plan: Mapping[str, object]) -> EditOutcome:
        """Add the noise in place; raises UsageError E204 on a bad plan before any change."""
        resolved = self._resolved(plan)
        fraction, seed = float(resolved["rms_fraction"]), int(resolved["seed"])
        target = _target(weights, str(resolved["weight"]))
        generator = torch.Generator(device="cpu").manual_seed(seed)
        matrix = torch.from_numpy(target.rows).to(torch.float64)
        std = fraction * float(matrix.square().mean().sqrt())
        noise = torch.randn(matrix.shape, generator=generator, dtype=torch.float64) * std
        weights.assign(target.name, (matrix + noise).numpy())
        return target.outcome(self.name, resolved)


DIAGNOSTIC_EDITS: tuple[ScaleWeightEdit | RemoveTopSingularEdit | GaussianNoiseEdit, ...] = (
    ScaleWeightEdit(),
    RemoveTopSingularEdit(),
    GaussianNoiseEdit(),
)


@dataclass(frozen=True)
class _Target:
    """The weight to edit: `rows` is its (out, in) float32 matrix; `tied` holds every name sharing it."""

    name: str
    rows: np.ndarray
    tied: tuple[str, ...]
    blocks: int

    def outcome(self, edit: str, plan: dict[str, object]) -> EditOutcome:
        return EditOutcome(
            name=edit,
            plan=plan,
            plan_digest=sha256_hex(canonical_bytes(plan)),
            deltas=EditDeltas(
                params_changed=self.rows.size,
                layers_modified=self.blocks,
                modules_changed=tuple(name.removesuffix(".weight") for name in self.tied),
                bitwidth_map={},
            ),
        )


def _resolve(
    edit: str, plan: Mapping[str, object], required: tuple[str, ...], defaults: Mapping[str, object]
) -> dict[str, object]:
    keys = (*required, *defaults)
    unknown = sorted(set(plan) - set(keys))
    if unknown:
        raise _plan_error(unknown[0], f"is not a {edit} key", f"use only {', '.join(keys)}")
    for key in required:
        if key not in plan:
            raise _plan_error(key, "is required", f"set {key}")
    weight = plan["weight"]
    if not isinstance(weight, str) or not weight:
        raise _plan_error(
            "weight", f"= {weight!r} is not a parameter name", 'use e.g. "model.layers.0.mlp.up_proj.weight"'
        )
    return {key: plan.get(key, defaults.get(key)) for key in keys}


def _positive(plan: Mapping[str, object], key: str) -> float:
    value = plan[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise _plan_error(key, f"= {value!r} is not a finite number > 0", f"use e.g. {key}: 0.5")
    return float(value)


def _integer(plan: Mapping[str, object], key: str, low: int, hint: str) -> int:
    value = plan[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value < 2**63:
        raise _plan_error(key, f"= {value!r} is not an integer in [{low}, 2**63)", hint)
    return value


def _target(weights: WeightSource, name: str) -> _Target:
    tied = next((g for g in weights.census().tied_groups if name in g), (name,))
    names: list[str] = []
    listed = None
    for matrix in weights.matrices():  # one at a time: only the target's matrix is kept
        names.append(matrix.name)
        if matrix.name in tied:
            listed = matrix
            break
    if listed is None:
        raise _not_a_weight(name, names)
    tied = (name, *(other for other in tied if other != name))
    # Ties join a weight to aliases of itself (an LM head and its embedding): they share one block or none.
    return _Target(name=name, rows=listed.array, tied=tied, blocks=int(listed.block is not None))


def _not_a_weight(name: str, names: list[str]) -> UsageError:
    """E204: the model has no 2-D parameter `name` (its names are `names`); the closest are suggested."""
    return _plan_error("weight", f"= {name!r} is not a 2-D float parameter of this model", _suggest(name, names))


def _suggest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6) or names[:3]
    return f"use one of its {len(names)} 2-D parameter names (module.named_parameters()), e.g. {', '.join(close)}"


def _plan_error(key: str, problem: str, hint: str) -> UsageError:
    return UsageError("E204", f"edit.plan.{key} {problem}", hint)
