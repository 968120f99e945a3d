"""The installed tool version (from package metadata, never hard-coded twice)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def tool_version() -> str:
    try:
        return version("invarlock")
    except PackageNotFoundError:
        return "0+unknown"
