"""Reading YAML config and preset files into a validated RunConfig."""

from __future__ import annotations

from typing import Any

import yaml
from invarlock.application.config import RunConfig, parse_config
from invarlock.domain.errors import UsageError

from .inputs import MAX_CONFIG_BYTES, read_input_file


def read_yaml(path: str) -> Any:
    hint = "check the path passed to -c/--preset"
    raw = read_input_file(path, what="config file", code="E201", max_bytes=MAX_CONFIG_BYTES, hint=hint)
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UsageError("E201", f"{path}: malformed YAML{where}: {problem}", "fix the YAML syntax") from exc
    except UnicodeDecodeError as exc:
        raise UsageError("E201", f"{path}: not UTF-8 text", "save the config as UTF-8") from exc


def load_config(path: str | None) -> RunConfig:
    """The config at `path`, or the embedded default (demo model, demo Wikipedia text) when None."""
    if path is None:
        return parse_config({}, source="<embedded default>")
    return parse_config(read_yaml(path), source=path)
