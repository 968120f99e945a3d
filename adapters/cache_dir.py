"""Where invarlock keeps what it can compute again: converted models and token streams."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`$INVARLOCK_CACHE_DIR`, else `$XDG_CACHE_HOME/invarlock`, else `~/.cache/invarlock`."""
    explicit = os.environ.get("INVARLOCK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "invarlock"
