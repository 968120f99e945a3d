"""Built-in edit `quant_rtn`: symmetric round-to-nearest fake quantization per output channel.

Plan keys:
    bits (required): 8 (levels -127..127) or 4 (levels -7..7).
    scope (default "all"): "attn", "ffn", "all" (every Linear/Conv1D weight inside the transformer
        blocks) or "all_with_head" ("all" plus an untied LM head). Embeddings and a tied LM head are
        never quantized.
    group_size (default null): one scale per output channel per group of this many input features; it
        must divide every target's input dimension.
    clamp_percentile (default 0.0, in [0, 50)): clip each output row at the (100 - p)th percentile
        (nearest rank) of |w| before taking the absmax.
Weights stay in their dtype (dequantized values are written back in place).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.model import EditOutcome

from .hf_architecture import ArchitectureRules, rules_for
from .hf_fingerprint import tied_groups

SCOPES = ("attn", "ffn", "all", "all_with_head")
_DEFAULTS: dict[str, object] = {"scope": "all", "group_size": None, "clamp_percentile": 0.0}
_KEYS = ("bits", "scope", "group_size", "clamp_percentile")


class QuantRTNEdit:
    """ports.edits.Edit: fake-quantizes a torch-backed model (`HFCausalModel`) in place."""

    name = "quant_rtn"

    def apply(self, model: Any, plan: Mapping[str, object]) -> EditOutcome:
        """Quantize the weights `plan` selects; raises UsageError E204 on a bad plan before any change."""
        resolved = resolve_plan(plan)
        if not hasattr(model, "module") or not hasattr(model, "config_model_type"):
            raise UsageError(
                "E202", f"quant_rtn needs a torch-backed model, got {type(model).__name__}", "use hf_causal"
            )
        rules = rules_for(model.config_model_type)
        targets = _targets(model.module, rules, str(resolved["scope"]))
        _check_groups(targets, rules, resolved["group_size"])
        ties = tied_groups(model.module)
        with torch.no_grad():
            for name, weight in targets.items():
                fake_quantize_(weight, rules.output_axis(name), resolved)
        if tied_groups(model.module) != ties:
            raise AbortError("E202", "quant_rtn broke a weight tie", "report this bug; the subject is unusable")
        return _outcome(resolved, targets, rules)


def resolve_plan(plan: Mapping[str, object]) -> dict[str, object]:
    """The plan with defaults filled in. Raises UsageError E204 naming the offending key."""
    unknown = sorted(set(plan) - set(_KEYS))
    if unknown:
        raise _plan_error(unknown[0], "is not a quant_rtn key", f"use only {', '.join(_KEYS)}")
    resolved = {key: plan.get(key, _DEFAULTS.get(key)) for key in _KEYS}
    if "bits" not in plan:
        raise _plan_error("bits", "is required", "set bits: 8 or bits: 4")
    if not _is_int(resolved["bits"]) or resolved["bits"] not in (4, 8):
        raise _plan_error("bits", f"= {resolved['bits']!r} is not supported", "use 8 or 4")
    if resolved["scope"] not in SCOPES:
        raise _plan_error("scope", f"= {resolved['scope']!r} is unknown", f"use one of {', '.join(SCOPES)}")
    group = resolved["group_size"]
    if group is not None and not (_is_int(group) and int(group) > 0):
        raise _plan_error("group_size", f"= {group!r} is not a positive integer", "use e.g. 64, or null")
    pct = resolved["clamp_percentile"]
    if not (isinstance(pct, int | float) and not isinstance(pct, bool) and 0 <= pct < 50):
        raise _plan_error("clamp_percentile", f"= {pct!r} is outside [0, 50)", "use e.g. 0.1, or 0")
    resolved["clamp_percentile"] = float(pct)
    return resolved


def fake_quantize_(weight: torch.Tensor, axis: int, plan: Mapping[str, object]) -> None:
    """Round `weight` in place to `plan["bits"]` symmetric levels, one scale per output row (and group)."""
    rows = weight.T if axis == 1 else weight
    out_dim, in_dim = rows.shape
    values = rows.detach().to(torch.float32)
    pct = float(plan["clamp_percentile"])
    if pct > 0:
        values = _clip_rows(values, pct)
    group = int(plan["group_size"] or in_dim)
    grouped = values.reshape(out_dim, in_dim // group, group)
    qmax = 2 ** (int(plan["bits"]) - 1) - 1
    # aminmax and in-place rounding: bit-identical to abs().amax() and out-of-place ops, with fewer passes.
    low, high = torch.aminmax(grouped, dim=-1, keepdim=True)
    scale = torch.maximum(high, -low) / qmax
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    quantized = torch.div(grouped, scale).round_().clamp_(-qmax, qmax).mul_(scale)
    rows.copy_(quantized.reshape(out_dim, in_dim))


def _clip_rows(values: torch.Tensor, pct: float) -> torch.Tensor:
    width = values.shape[1]
    rank = min(width, max(1, math.ceil((1 - pct / 100) * width)))
    cap = values.abs().kthvalue(rank, dim=1, keepdim=True).values
    return torch.maximum(torch.minimum(values, cap), -cap)


def _targets(module: Any, rules: ArchitectureRules, scope: str) -> dict[str, torch.Tensor]:
    from transformers.pytorch_utils import Conv1D

    block_scope = "all" if scope == "all_with_head" else scope
    targets = {
        f"{name}.weight": sub.weight
        for name, sub in module.named_modules()
        if isinstance(sub, torch.nn.Linear | Conv1D) and rules.in_scope(name, block_scope)
    }
    head = module.get_output_embeddings()
    tied = head is not None and head.weight is module.get_input_embeddings().weight
    if scope == "all_with_head" and head is not None and not tied:
        head_name = next(name for name, sub in module.named_modules() if sub is head)
        targets[f"{head_name}.weight"] = head.weight
    if not targets:
        raise _plan_error("scope", f"= {scope!r} selects no weights of this model", "use scope: all")
    return targets


def _check_groups(targets: Mapping[str, torch.Tensor], rules: ArchitectureRules, group: object) -> None:
    for name, weight in targets.items():
        in_dim = weight.shape[1 - rules.output_axis(name)]
        if group is not None and in_dim % int(group):
            raise _plan_error(
                "group_size", f"= {group} does not divide the input dimension {in_dim} of {name}", "pick a divisor"
            )


def _outcome(plan: dict[str, object], targets: Mapping[str, torch.Tensor], rules: ArchitectureRules) -> EditOutcome:
    modules = tuple(name.removesuffix(".weight") for name in targets)
    blocks = {rules.block_index(name) for name in targets} - {None}
    return EditOutcome(
        name=QuantRTNEdit.name,
        plan=plan,
        plan_digest=sha256_hex(canonical_bytes(plan)),
        params_changed=sum(w.numel() for w in targets.values()),
        layers_modified=len(blocks),
        modules_changed=modules,
        bitwidth_map={m: int(plan["bits"]) for m in modules},
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plan_error(key: str, problem: str, hint: str) -> UsageError:
    return UsageError("E204", f"edit.plan.{key} {problem}", hint)
