"""quant_rtn's plan as the edit resolves it: the plan the config gives with the edit's defaults filled in, checked
key by key. Pure, so that plain verify (no torch) checks a certificate's `edit.plan` against its run config."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TypeGuard

from .errors import UsageError

QUANT_RTN = "quant_rtn"  # the built-in edit's name
SCOPES = ("attn", "ffn", "all", "all_with_head")
DEFAULTS: dict[str, object] = {"scope": "all", "group_size": None, "clamp_percentile": 0.0}
KEYS = ("bits", "scope", "group_size", "clamp_percentile")
MAX_GROUP_SIZE = 2**31 - 1  # a row is never longer; beyond it torch's pad overflowed (E999)
OPTIONAL = ("clamp_ratio", "max_modules")


def resolve_plan(plan: Mapping[str, object]) -> dict[str, object]:
    """The plan with defaults filled in. Raises UsageError E204 naming the offending key."""
    unknown = sorted(set(plan) - set(KEYS) - set(OPTIONAL))
    if unknown:
        close = difflib.get_close_matches(unknown[0], (*KEYS, *OPTIONAL, "bitwidth"), n=1)
        hint = f"did you mean {'bits' if close == ['bitwidth'] else close[0]}?" if close else ""
        raise plan_error(unknown[0], "is not a quant_rtn key", hint or f"use only {', '.join(KEYS + OPTIONAL)}")
    resolved = {key: plan.get(key, DEFAULTS.get(key)) for key in KEYS}
    if "bits" not in plan:
        raise plan_error("bits", "is required", "set bits: 8 or bits: 4")
    if not is_int(resolved["bits"]) or resolved["bits"] not in (4, 8):
        raise plan_error("bits", f"= {resolved['bits']!r} is not supported", "use 8 or 4")
    if resolved["scope"] not in SCOPES:
        raise plan_error("scope", f"= {resolved['scope']!r} is unknown", f"use one of {', '.join(SCOPES)}")
    group = resolved["group_size"]
    if group is not None and not (is_int(group) and 0 < int(group) <= MAX_GROUP_SIZE):
        raise plan_error("group_size", f"= {group!r} is not an integer in [1, {MAX_GROUP_SIZE}]", "use e.g. 64")
    pct = resolved["clamp_percentile"]
    if not (isinstance(pct, int | float) and not isinstance(pct, bool) and 0 <= pct < 50):
        raise plan_error("clamp_percentile", f"= {pct!r} is outside [0, 50)", "use e.g. 0.1, or 0")
    resolved["clamp_percentile"] = float(pct)
    resolved.update(_optional(plan))
    return resolved


def _optional(plan: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    if "clamp_ratio" in plan:
        ratio = plan["clamp_ratio"]
        if not (isinstance(ratio, int | float) and not isinstance(ratio, bool) and 0 <= ratio <= 0.5):
            raise plan_error("clamp_ratio", f"= {ratio!r} is outside [0, 0.5]", "use e.g. 0.005, or 0")
        if ratio > 0 and plan.get("clamp_percentile", 0):
            raise plan_error("clamp_ratio", "and clamp_percentile both clip", "give only one of them")
        out["clamp_ratio"] = float(ratio)
    if "max_modules" in plan:
        limit = plan["max_modules"]
        if not (is_int(limit) and int(limit) >= 1):
            raise plan_error("max_modules", f"= {limit!r} is not an integer >= 1", "use e.g. 12, or leave it out")
        out["max_modules"] = limit
    return out


def is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool (YAML's `true` is no bit width)."""
    return isinstance(value, int) and not isinstance(value, bool)


def plan_error(key: str, problem: str, hint: str) -> UsageError:
    """E204 naming `edit.plan.<key>`."""
    return UsageError("E204", f"edit.plan.{key} {problem}", hint)
