"""Built-in diagnostic edits on one 2-D weight: the harmful suite calibrating the guards (docs/assurance/guards.md §6).

`scale_weight`, `remove_top_singular` and `gaussian_noise` each change exactly one parameter in place (and,
through shared storage, every parameter tied to it; the outcome lists those too). A weight is addressed by
its parameter name, e.g. "model.layers.15.self_attn.o_proj.weight"; its matrix is taken as (out, in), so a
GPT-2 Conv1D weight stored (in, out) is transposed before any matrix math and written back in its layout.
The plan is validated in full (UsageError E204 naming `edit.plan.<key>`) before any weight changes.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import UsageError
from invarlock.domain.model import EditOutcome

from .hf_architecture import rules_for
from .hf_fingerprint import tied_groups


class ScaleWeightEdit:
    """ports.edits.Edit: multiplies one weight by a constant.

    Plan keys:
        weight (required): name of a 2-D parameter of the model.
        factor (required): the multiplier, a finite number > 0 (3 triples every singular value).
    """

    name = "scale_weight"

    def apply(self, model: Any, plan: Mapping[str, object]) -> EditOutcome:
        """Scale the weight in place; raises UsageError E204 on a bad plan before any change."""
        resolved = _resolve(self.name, plan, ("weight", "factor"), {})
        resolved["factor"] = factor = _positive(resolved, "factor")
        target = _target(self.name, model, str(resolved["weight"]))
        with torch.no_grad():
            target.rows.mul_(factor)
        return target.outcome(self.name, resolved)


class RemoveTopSingularEdit:
    """ports.edits.Edit: removes the k largest singular components of one weight.

    W ← W − Σ_{i<k} σ_i u_i v_iᵀ, from a float64 SVD of the (out, in) matrix, written back in the weight's
    dtype; afterwards the largest singular value is the old σ_k (0-based).

    Plan keys:
        weight (required): name of a 2-D parameter of the model.
        k (required): how many components to remove, an integer with 1 <= k < min(out, in).
    """

    name = "remove_top_singular"

    def apply(self, model: Any, plan: Mapping[str, object]) -> EditOutcome:
        """Remove the top-k components in place; raises UsageError E204 on a bad plan before any change."""
        resolved = _resolve(self.name, plan, ("weight", "k"), {})
        top = _integer(resolved, "k", 1, "use e.g. k: 8")
        target = _target(self.name, model, str(resolved["weight"]))
        if top >= min(target.rows.shape):
            raise _plan_error("k", f"= {top} is not below min{tuple(target.rows.shape)}", "pick a smaller k")
        with torch.no_grad():
            matrix = target.rows.detach().to(torch.float64)
            u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
            target.rows.copy_(matrix - (u[:, :top] * s[:top]) @ vh[:top])
        return target.outcome(self.name, resolved)


class GaussianNoiseEdit:
    """ports.edits.Edit: adds seeded Gaussian noise to one weight.

    W += N(0, (rms_fraction · rms(W))²) per element, drawn in float64 on CPU from a torch.Generator seeded
    with `seed` in (out, in) order, so the same plan draws the same noise on every run and device.

    Plan keys:
        weight (required): name of a 2-D parameter of the model.
        rms_fraction (required): noise standard deviation relative to the weight's RMS, a finite number > 0.
        seed (default 0): generator seed, an integer in [0, 2**63).
    """

    name = "gaussian_noise"

    def apply(self, model: Any, plan: Mapping[str, object]) -> EditOutcome:
        """Add the noise in place; raises UsageError E204 on a bad plan before any change."""
        resolved = _resolve(self.name, plan, ("weight", "rms_fraction"), {"seed": 0})
        resolved["rms_fraction"] = fraction = _positive(resolved, "rms_fraction")
        seed = _integer(resolved, "seed", 0, "use e.g. seed: 0")
        target = _target(self.name, model, str(resolved["weight"]))
        generator = torch.Generator(device="cpu").manual_seed(seed)
        with torch.no_grad():
            matrix = target.rows.detach().to(torch.float64)
            std = fraction * float(matrix.square().mean().sqrt())
            noise = torch.randn(matrix.shape, generator=generator, dtype=torch.float64) * std
            target.rows.copy_(matrix + noise.to(matrix.device))
        return target.outcome(self.name, resolved)


DIAGNOSTIC_EDITS: tuple[ScaleWeightEdit | RemoveTopSingularEdit | GaussianNoiseEdit, ...] = (
    ScaleWeightEdit(),
    RemoveTopSingularEdit(),
    GaussianNoiseEdit(),
)


@dataclass(frozen=True)
class _Target:
    """The weight to edit: `rows` is its (out, in) view; `tied` holds every name sharing its storage."""

    rows: torch.Tensor
    tied: tuple[str, ...]
    blocks: int

    def outcome(self, edit: str, plan: dict[str, object]) -> EditOutcome:
        return EditOutcome(
            name=edit,
            plan=plan,
            plan_digest=sha256_hex(canonical_bytes(plan)),
            params_changed=self.rows.numel(),
            layers_modified=self.blocks,
            modules_changed=tuple(name.removesuffix(".weight") for name in self.tied),
            bitwidth_map={},
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


def _target(edit: str, model: Any, name: str) -> _Target:
    if not hasattr(model, "module") or not hasattr(model, "config_model_type"):
        raise UsageError("E202", f"{edit} needs a torch-backed model, got {type(model).__name__}", "use hf_causal")
    params = dict(model.module.named_parameters(remove_duplicate=False))
    weight = params.get(name)
    if weight is None or weight.ndim != 2 or not weight.is_floating_point():
        raise _plan_error("weight", f"= {name!r} is not a 2-D float parameter of this model", _suggest(name, params))
    rules = rules_for(model.config_model_type)
    tied = next((g for g in tied_groups(model.module) if name in g), (name,))
    tied = (name, *(other for other in tied if other != name))
    blocks = {rules.block_index(other) for other in tied} - {None}
    rows = weight.T if rules.output_axis(name) == 1 else weight
    return _Target(rows=rows, tied=tied, blocks=len(blocks))


def _suggest(name: str, params: Mapping[str, torch.Tensor]) -> str:
    matrices = [n for n, p in params.items() if p.ndim == 2]
    close = difflib.get_close_matches(name, matrices, n=3, cutoff=0.6) or matrices[:3]
    return f"use one of its {len(matrices)} 2-D parameter names (module.named_parameters()), e.g. {', '.join(close)}"


def _plan_error(key: str, problem: str, hint: str) -> UsageError:
    return UsageError("E204", f"edit.plan.{key} {problem}", hint)
