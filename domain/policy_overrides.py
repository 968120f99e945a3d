"""Checking a run config's overrides against a tier's policy: numeric gate overrides, guard settings (a
settable key, or a pin stating the tier's own value), plugin guards' settings and the guard chain order.
Re-exported by domain/policy.py."""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Mapping
from typing import Any

import msgspec

from .errors import UsageError
from .gate_policy import AccuracyGates, EmbeddingGates, GatePolicy
from .guards.plugin import plugin_guard
from .guards.plugin_records import PluginGuardSettings, settings_of
from .guards.settings import GUARD_MODES, GuardSettings
from .policy_sections import DEFAULT_GUARD_ORDER, GUARD_NAMES

# Keys a run config (guards.<name>.<key>) may override; each override is part of the resolved policy. Any
# other setting of a guard may be stated in the config only with the tier's own value (a pin: an InvarLock
# 0.3.7 config states its thresholds); a pin changes nothing but is recorded like an override.
GUARD_OVERRIDABLE: dict[str, dict[str, tuple[str | bool, ...]]] = {
    "spectral": {"mode": GUARD_MODES, "repair": (True, False)},
    "rmt": {"mode": GUARD_MODES},
    "variance": {"mode": GUARD_MODES, "targets": ("changed", "all_ffn")},
}


def _plugin_settings(overrides: dict[str, dict[str, object]], order: Any) -> dict[str, PluginGuardSettings] | None:
    """The settings of the plugin guards the overrides or the order name (guards.<name>.*: thresholds, mode)."""
    named = [*overrides, *(order if isinstance(order, list | tuple) else ())]
    out = {}
    for name in dict.fromkeys(n for n in named if isinstance(n, str) and n not in GUARD_NAMES):
        guard = plugin_guard(name)
        if guard is not None:
            out[name] = settings_of(name, overrides.get(name, {}), tuple(guard.settings))
    return out or None


def _guard_overrides(table: GuardSettings, overrides: dict[str, dict[str, object]], tier: str) -> GuardSettings:
    out = table
    for guard, values in overrides.items():
        if guard not in GUARD_NAMES and isinstance(guard, str) and plugin_guard(guard) is not None:
            continue  # a plugin guard's settings: _plugin_settings
        if guard not in GUARD_NAMES or not isinstance(values, dict):
            raise UsageError(
                "E202",
                f"guards.{guard} is not a guard's settings",
                f"guards: one map for each of {', '.join(GUARD_NAMES)}",
            )
        allowed = GUARD_OVERRIDABLE.get(guard, {})
        for key, value in values.items():
            if key not in allowed:
                _check_pin(table, guard, key, value, tier)
            elif value not in allowed[key] or not isinstance(value, type(allowed[key][0])):
                raise _not_a_choice(f"guards.{guard}.{key}", value, allowed[key])
        changes = {k: v for k, v in values.items() if k in allowed}
        out = msgspec.structs.replace(out, **{guard: msgspec.structs.replace(out.of(guard), **changes)})
    return out


def _not_a_choice(key: str, value: object, choices: tuple[object, ...]) -> UsageError:
    """E202 saying `value` and the choices as YAML writes them (`false`, not Python's `False`)."""
    said = f"{key} is {_as_yaml(value)}"
    if isinstance(value, bool) and isinstance(choices[0], str):  # `mode: off` is YAML 1.1's false
        said += " (YAML reads an unquoted on, off, yes or no as true or false)"
    listed = ", ".join(c if isinstance(c, str) else _as_yaml(c) for c in choices)
    return UsageError("E202", said, f"use one of: {listed}")


def _as_yaml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value)  # text quoted: `"true"` is not `true`


def _check_pin(table: GuardSettings, guard: str, key: str, value: object, tier: str) -> None:
    fields = table.of(guard).__struct_fields__ if guard in GUARD_NAMES else ()
    if key not in fields:
        known = ", ".join(f"guards.{g}.{k}" for g, ks in GUARD_OVERRIDABLE.items() for k in ks)
        close = difflib.get_close_matches(str(key), fields, n=1)
        hint = f"did you mean {close[0]}?" if close else f"settable: {known}"
        raise UsageError("E202", f"guards.{guard}.{key} cannot be set", hint)
    current = msgspec.to_builtins(getattr(table.of(guard), key))
    # compared as JSON values: the tier's pair (0.85, 1.12) is a tuple, the YAML pin [0.85, 1.12] a list
    same = msgspec.json.decode(msgspec.json.encode(value)) == msgspec.json.decode(msgspec.json.encode(current))
    if not same or isinstance(value, bool) != isinstance(current, bool):
        raise UsageError(
            "E202",
            f"guards.{guard}.{key} = {value!r} differs from the {tier} tier's {current!r}",
            "thresholds come from the tier: drop the key, or choose the tier whose value it is",
        )


SectionGates = AccuracyGates | EmbeddingGates  # a metric kind's own gates (policy SECTIONS)

# GatePolicy keys only the perplexity kinds read (domain/metrics/ppl_gates.py): a kind with a policy section
# (embedding, accuracy) is gated by that section's keys instead.
RATIO_ONLY_GATES = ("ratio_limit", "catastrophe_ratio", "drift_min", "drift_max", "min_final_tokens")
# GatePolicy keys a profile never reads (domain/policy.py resolve_policy: dev enforces no floors and runs
# DEV_REPLICATES; ci and release each read their own window floor and replicate count, and both read
# min_windows_ci, below which an interval is approximate: the ci_not_approximate gate).
PROFILE_UNREAD_GATES = {
    "dev": ("min_final_tokens", "min_windows_ci", "min_windows_release", "replicates_ci", "replicates_release"),
    "ci": ("min_windows_release", "replicates_release"),
    "release": ("replicates_ci",),
}
_SECTION_RANGES = {
    "min_cosine": (-1.0, 1.0),
    "catastrophe_cosine": (-1.0, 1.0),
    "drift_max": (0.0, 2.0),
    "delta_pp_limit": (0.0, 100.0),
    "catastrophe_pp": (0.0, 100.0),
    "drift_pp_max": (0.0, 100.0),
}


def _gate_overrides(
    gates: GatePolicy, overrides: Mapping[str, object], section: str | None = None, section_keys: tuple[str, ...] = ()
) -> GatePolicy:
    """`gates` with the overrides of its own keys; with a `section` (whose gates have `section_keys`), the keys
    only perplexity ratios read are refused (they would gate nothing) and the section's keys are left to
    `section_overrides`."""
    fields = set(GatePolicy.__struct_fields__)
    for key, value in overrides.items():
        if key in section_keys:
            continue
        if section is not None and key in RATIO_ONLY_GATES:
            raise UsageError(
                "E202",
                f"policy override '{key}' gates perplexity ratios, not a certificate of the {section} metric",
                f"override the {section} gates instead: {', '.join(section_keys)}",
            )
        if key not in fields:
            known = sorted(fields - set(RATIO_ONLY_GATES if section else ())) + list(section_keys)
            raise UsageError("E202", f"unknown policy override '{key}'", f"known keys: {', '.join(known)}")
        _check_number(key, value)
    # convert, not replace: an int given for a float threshold must become a float, or the policy's JSON (and
    # digest) would change when a verifier decodes it.
    ours = {k: v for k, v in overrides.items() if k in fields and k not in section_keys}
    try:
        return msgspec.convert({**msgspec.structs.asdict(gates), **ours}, GatePolicy)
    except msgspec.ValidationError as exc:
        raise UsageError("E202", f"policy override: {exc}", "give a whole number for a count or replicates") from exc


def section_overrides(gates: SectionGates, overrides: Mapping[str, object]) -> SectionGates:
    """`gates` (a kind's policy section) with the overrides of its keys, each a finite number in its range."""
    ours = {k: v for k, v in overrides.items() if k in type(gates).__struct_fields__}
    for key, value in ours.items():
        _check_number(key, value)
        low, high = _SECTION_RANGES[key]
        if not low <= float(value) <= high:  # type: ignore[arg-type]  # _check_number: an int or a float
            raise UsageError("E202", f"policy override '{key}' is {value!r}: out of range", f"give {low} to {high}")
    return msgspec.convert({**msgspec.structs.asdict(gates), **ours}, type(gates))


_LARGEST_FLOAT = int(sys.float_info.max)
_FINITE = "give a finite number, as a limit or count of the policy's own size"


def _check_number(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError("E202", f"policy override '{key}' must be a number, got {value!r}", "give a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError("E202", f"policy override '{key}' must be finite, got {value!r}", "give a finite number")
    if isinstance(value, int) and abs(value) > _LARGEST_FLOAT:  # no float holds it: msgspec says "out of range"
        raise UsageError("E202", f"policy override '{key}' is an integer beyond any float (±1.8e308)", _FINITE)


def _order(guard_order: Any, plugins: Mapping[str, PluginGuardSettings] | None) -> tuple[str, ...]:
    """The chain order: built-in guards, then plugin guards (each with its settings), then only invariants."""
    if guard_order is None:
        return DEFAULT_GUARD_ORDER
    names = (*GUARD_NAMES, *(plugins or {}))
    if not isinstance(guard_order, list | tuple) or not all(g in names for g in guard_order):
        raise UsageError("E202", f"guard order {guard_order!r} is invalid", f"name only {', '.join(names)}")
    for i, name in enumerate(guard_order):
        if name in (plugins or {}) and any(g not in (plugins or {}) and g != "invariants" for g in guard_order[i:]):
            raise UsageError(
                "E202",
                f"guard order {list(guard_order)!r} puts the plugin guard {name} before a built-in guard",
                "plugin guards run after the built-in ones, before the closing invariants",
            )
    return tuple(guard_order)
