"""Built-in edit `quant_rtn`: symmetric round-to-nearest fake quantization per output channel.

Plan keys:
    bits (required): 8 (levels -127..127) or 4 (levels -7..7).
    scope (default "all"): "attn", "ffn", "all" (every 2-D weight inside the transformer blocks: the
        Linear/Conv1D weights of the supported architectures) or "all_with_head" ("all" plus an untied
        LM head). Embeddings and a tied LM head are never quantized.
    group_size (default null): one scale per output channel per group of this many input features; when it
        does not divide a target's input dimension the row's last group is shorter (e.g. 576 = 4·128 + 64).
    clamp_percentile (default 0.0, in [0, 50)): clip each output row at the (100 - p)th percentile
        (nearest rank) of |w| before taking the absmax.
    clamp_ratio (optional, in [0, 0.5], InvarLock 0.3.7's knob): clip each output row to its
        [r/2, 1 - r/2] quantiles (linear interpolation; the upper bound at least 1e-8) before the absmax.
    max_modules (optional, >= 1): quantize only the first N targets in the model's weight order.
The optional keys appear in the resolved plan (and its digest) only when given.
Weights stay in their dtype (dequantized values are written back in place through `WeightSource.assign`,
which keeps weight ties), so the edit runs on any WeightSource, not only the torch-backed one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.model import EditDeltas, EditOutcome
from invarlock.domain.quant_rtn_plan import plan_error, resolve_plan
from invarlock.ports.model import WeightSource

_EPS = 1e-8


class _Target(NamedTuple):
    block: int | None
    shape: tuple[int, ...]


class QuantRTNEdit:
    """ports.edits.Edit: fake-quantizes any WeightSource in place (reads `matrices()`, writes `assign`)."""

    name = "quant_rtn"

    def check_plan(self, plan: Mapping[str, object]) -> None:
        """ports.edits.PlanCheck: UsageError E204 naming the key of a plan no model can take."""
        resolve_plan(plan)

    def apply(self, weights: WeightSource, plan: Mapping[str, object]) -> EditOutcome:
        """Quantize the weights `plan` selects; raises UsageError E204 on a bad plan before any change."""
        resolved = resolve_plan(plan)
        targets = _targets(weights, str(resolved["scope"]), resolved.get("max_modules"))
        for matrix in weights.matrices():
            if matrix.name in targets:
                weights.assign(matrix.name, fake_quantize(matrix.array, resolved))
        return _outcome(resolved, targets)


def fake_quantize(rows: np.ndarray, plan: Mapping[str, object]) -> np.ndarray:
    """`rows` (out, in) rounded to `plan["bits"]` symmetric levels, one scale per output row (and group),
    as a new float32 array (torch ops on CPU: bit-identical to the in-place quantizer of earlier releases)."""
    values = torch.from_numpy(rows).to(torch.float32)
    in_dim = values.shape[1]
    pct = float(plan["clamp_percentile"])
    if pct > 0:
        values = _clip_rows(values, pct)
    if float(plan.get("clamp_ratio") or 0) > 0:  # type: ignore[arg-type]
        values = _clip_quantiles(values, float(plan["clamp_ratio"]))  # type: ignore[arg-type]
    group = min(int(plan["group_size"] or in_dim), in_dim)  # a longer group is the whole row: same scale, no padding
    pad = -in_dim % group
    if pad:  # a shorter last group: zeros do not change its absmax and are cut off again below
        return _quantize_groups(torch.nn.functional.pad(values, (0, pad)), group, plan)[:, :in_dim].contiguous().numpy()
    return _quantize_groups(values, group, plan).numpy()


def _quantize_groups(values: torch.Tensor, group: int, plan: Mapping[str, object]) -> torch.Tensor:
    out_dim, in_dim = values.shape
    grouped = values.reshape(out_dim, in_dim // group, group)
    qmax = 2 ** (int(plan["bits"]) - 1) - 1
    # aminmax and in-place rounding: bit-identical to abs().amax() and out-of-place ops, with fewer passes.
    low, high = torch.aminmax(grouped, dim=-1, keepdim=True)
    scale = torch.maximum(high, -low) / qmax
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    quantized = torch.div(grouped, scale).round_().clamp_(-qmax, qmax).mul_(scale)
    return quantized.reshape(out_dim, in_dim)


def _clip_rows(values: torch.Tensor, pct: float) -> torch.Tensor:
    width = values.shape[1]
    rank = min(width, max(1, math.ceil((1 - pct / 100) * width)))
    cap = values.abs().kthvalue(rank, dim=1, keepdim=True).values
    return torch.maximum(torch.minimum(values, cap), -cap)


def _clip_quantiles(values: torch.Tensor, ratio: float) -> torch.Tensor:
    """Each row clipped to its [ratio/2, 1 - ratio/2] quantiles, linearly interpolated between order
    statistics (numpy's default), the upper bound floored at 1e-8 (InvarLock 0.3.7's clamp_ratio)."""
    ordered = values.sort(dim=1).values
    low, high = _quantile(ordered, ratio / 2), _quantile(ordered, 1 - ratio / 2).clamp(min=_EPS)
    return torch.maximum(torch.minimum(values, high), low)


def _quantile(ordered: torch.Tensor, q: float) -> torch.Tensor:
    position = q * (ordered.shape[1] - 1)
    below = math.floor(position)
    above = min(below + 1, ordered.shape[1] - 1)
    lower = ordered[:, below : below + 1]
    return lower + (position - below) * (ordered[:, above : above + 1] - lower)


def _targets(weights: WeightSource, scope: str, max_modules: object = None) -> dict[str, _Target]:
    """Every 2-D weight inside the transformer blocks in scope, then (scope "all_with_head") an untied head."""
    block_scope = "all" if scope == "all_with_head" else scope
    targets: dict[str, _Target] = {}
    head: dict[str, _Target] = {}
    for m in weights.matrices():
        if m.block is not None and block_scope in ("all", m.family):
            targets[m.name] = _Target(m.block, m.array.shape)
        elif m.head and scope == "all_with_head":
            head[m.name] = _Target(None, m.array.shape)
    targets.update(head)
    if not targets:
        raise plan_error("scope", f"= {scope!r} selects no weights of this model", "use scope: all")
    if isinstance(max_modules, int):
        targets = dict(list(targets.items())[:max_modules])
    return targets


def _outcome(plan: dict[str, object], targets: Mapping[str, _Target]) -> EditOutcome:
    modules = tuple(name.removesuffix(".weight") for name in targets)
    blocks = {t.block for t in targets.values()} - {None}
    return EditOutcome(
        name=QuantRTNEdit.name,
        plan=plan,
        plan_digest=sha256_hex(canonical_bytes(plan)),
        deltas=EditDeltas(
            params_changed=sum(math.prod(t.shape) for t in targets.values()),
            layers_modified=len(blocks),
            modules_changed=modules,
            bitwidth_map={m: int(plan["bits"]) for m in modules},
        ),
    )
