"""Checkpoint folders for what a loader reads without the weights: a config.json and a weights file never read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def config_only_checkpoint(path: Path, **config: Any) -> str:
    """A folder with this config.json and an empty model.safetensors (never read: no weights are loaded)."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (path / "model.safetensors").write_bytes(b"")
    return str(path)
