"""The run configuration (seed schema): typed, strict, unknown keys are errors naming the key.

Its sections live in config_sections, its checks beyond the schema in config_checks; this module parses a
decoded YAML mapping into a RunConfig and writes one back as recorded, and re-exports every section."""

from __future__ import annotations

import datetime
import difflib
import re
import typing
from collections.abc import Mapping
from typing import Any

import msgspec
from invarlock.domain.errors import UsageError
from invarlock.domain.guards.plugin import plugin_guard

from .config_checks import check_semantics, refuse_unread_dataset_keys
from .config_execution import refuse_unread_execution_keys
from .config_messages import plain
from .config_sections import (
    DEMO_CORPUS,
    DEMO_MODEL,
    FULL_CHAIN,
    HF_PROVIDER,
    SUPPORTED_GUARDS,
    AutoConfig,
    DatasetConfig,
    EditConfig,
    EvalConfig,
    GuardsConfig,
    MetricConfig,
    ModelConfig,
    OutputConfig,
    RunConfig,
    SecondaryConfig,
)
from .config_upstream import original_path, translate_upstream

__all__ = [
    "DEMO_CORPUS",
    "DEMO_MODEL",
    "FULL_CHAIN",
    "HF_PROVIDER",
    "SUPPORTED_GUARDS",
    "AutoConfig",
    "DatasetConfig",
    "EditConfig",
    "EvalConfig",
    "GuardsConfig",
    "MetricConfig",
    "ModelConfig",
    "OutputConfig",
    "RunConfig",
    "SecondaryConfig",
    "config_to_dict",
    "model_to_dict",
    "parse_config",
]

_HUB_KEYS = ("name", "config", "revision")
_PLACEMENT_KEYS = ("device_map", "max_memory")


def _path_of(message: str) -> str:
    found = re.search(r"at `\$\.?([^`]*)`", message)
    return found.group(1) if found else ""


def _keys_at(where: str) -> tuple[str, ...]:
    """The keys of the config section at dotted path `where` ("" for the top level)."""
    cls: Any = RunConfig
    for part in filter(None, where.split(".")):
        hints = typing.get_type_hints(cls)
        cls = next((t for t in (hints.get(part), *typing.get_args(hints.get(part))) if _is_section(t)), None)
        if cls is None:
            return ()
    return tuple(f for f in cls.__struct_fields__ if (cls, f) not in _HELD)


# Fields of a section a config file does not write: GuardsConfig holds plugin guards' guards.<name> sections in
# `plugins`.
_HELD = {(GuardsConfig, "plugins")}


def _is_section(t: object) -> bool:
    return isinstance(t, type) and issubclass(t, msgspec.Struct)


def _suggestion(where: str, unknown: str) -> str:
    keys = _keys_at(where)
    close = difflib.get_close_matches(unknown, keys, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}?"
    return f"keys of {where or 'the top level'}: {', '.join(keys)}" if keys else "remove it or fix its spelling"


def parse_config(data: Any, *, source: str, as_written: bool = True) -> RunConfig:
    """Validate a decoded YAML mapping, InvarLock 0.3.7 keys translated first (config_upstream.py). Raises
    UsageError E201 naming the file and the offending key (with the closest known key when one is near).
    `as_written`: the mapping is the user's (a key given with its default value is still a key given), not a
    recorded or rebuilt config, which states every default."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError("E201", f"{source}: the config must be a mapping of sections", "see docs/user-guide.md")
    given = data
    data = _plugin_sections(translate_upstream(data, source), source)
    try:
        cfg = msgspec.convert(data, RunConfig)
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = _path_of(text)
        if text.startswith("Object contains unknown field"):
            key = re.search(r"`([^`]*)`", text)
            unknown = key.group(1) if key else "?"
            full = f"{where}.{unknown}" if where else unknown
            raise UsageError("E201", f"{source}: unknown key '{full}'", _suggestion(where, unknown)) from exc
        key_at = re.match(r"Expected `str`(, got `\w+`)? - at `key` in `\$\.?([^`]*)`", text)
        if key_at:
            raise _not_a_name(data, key_at.group(2), source) from exc
        said = plain(text)
        if said is not None:
            message, hint = _as_written(given, data, where, said)
            raise UsageError("E201", f"{source}: {message}", hint) from exc
        raise UsageError("E201", f"{source}: {text}", "fix the key it names") from exc
    check_semantics(cfg, source)
    if as_written:
        refuse_unread_execution_keys(given.get("execution"), source)
        refuse_unread_dataset_keys(cfg.dataset, source)
    return cfg


def _as_written(
    given: Mapping[str, object], data: Mapping[str, object], where: str, said: tuple[str, str]
) -> tuple[str, str]:
    """`said` naming the key as the file writes it: an InvarLock 0.3.7 key was renamed before the decode
    (`model.torch_dtype` read "model.dtype must be text")."""
    key = where.split("[", 1)[0]  # `dataset.x[0]`, `guards.rmt.epsilon[...]`: the key holding the value
    written = original_path(given, data, key) if key else None
    if written is None:
        return said
    return said[0].replace(key, written, 1), said[1].replace(key, written)


def _not_a_name(data: dict[str, Any], where: str, source: str) -> UsageError:
    """E201 for a key YAML read as a number, boolean, null or date (`1:`, `yes:`, `null:`) in the section at `where`."""
    section: Any = data
    for part in filter(None, where.split(".")):
        section = section.get(part, {}) if isinstance(section, dict) else {}
    key = next((k for k in section if not isinstance(k, str)), "?") if isinstance(section, dict) else "?"
    shown = "null" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
    kind = _yaml_kind(key)
    place = f"section {where}" if where else "the top level"
    keys = _keys_at(where)
    fix = f"quote it if it is text, or rename it (keys of {where or 'the top level'}: {', '.join(keys)})"
    return UsageError(
        "E201", f"{source}: key {shown} in {place} is {kind} to YAML, not a name", fix if keys else "quote or remove it"
    )


def _yaml_kind(key: object) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "a boolean"
    return "a number" if isinstance(key, (int, float)) else "a date" if isinstance(key, datetime.date) else "not text"


def _plugin_sections(data: dict[str, Any], source: str) -> dict[str, Any]:
    """`data` with each guards.<name> section of a plugin guard moved under guards.plugins.<name>."""
    guards = data.get("guards")
    if not isinstance(guards, dict):
        return data
    if "plugins" in guards:  # the field that holds them: written, it set built-in guards' settings unchecked
        raise UsageError(
            "E201",
            f"{source}: unknown key 'guards.plugins'",
            "a plugin guard's settings go under guards.<its name>, as a built-in guard's do",
        )
    fields = GuardsConfig.__struct_fields__
    moved = {k: v for k, v in guards.items() if k not in fields and plugin_guard(str(k)) is not None}
    if not moved:
        return data
    kept = {k: v for k, v in guards.items() if k not in moved}
    return {**data, "guards": {**kept, "plugins": moved}}


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """The config as recorded (run_started, the certificate's provenance); unset hub and placement keys and
    an unset execution section are left out (configs encode as before they existed)."""
    result: dict[str, Any] = msgspec.to_builtins(cfg)
    guards = result["guards"]
    guards.update(guards.pop("plugins"))
    if result["execution"] is None:
        del result["execution"]
    dataset = result["dataset"]
    for key in _HUB_KEYS:
        if dataset[key] is None:
            del dataset[key]
    _drop_unset(result["eval"], "reuse")
    _drop_unset(result["eval"], "sequential")
    _drop_unset(result["eval"]["secondary"], "measure")
    result["model"] = model_to_dict(cfg.model)
    return result


def _drop_unset(section: dict[str, Any], key: str) -> None:
    if section[key] is None:
        del section[key]


def model_to_dict(model: ModelConfig) -> dict[str, Any]:
    """A model section as recorded: `device_map`/`max_memory` only when set (configs encode as before)."""
    result: dict[str, Any] = msgspec.to_builtins(model)
    for key in _PLACEMENT_KEYS:
        if result[key] is None:
            del result[key]
    return result
