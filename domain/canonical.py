"""Canonical JSON bytes (sorted keys, no whitespace, shortest round-trip floats) and digests."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import msgspec

from .errors import AbortError

_ENCODER = msgspec.json.Encoder(order="sorted")


def _reject_non_finite(value: Any, path: str) -> None:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AbortError("E402", f"non-finite number at {path or 'root'}", "a value could not be measured")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_non_finite(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _reject_non_finite(item, f"{path}[{i}]")


def canonical_bytes(obj: Any) -> bytes:
    """Canonical JSON of a Struct or plain value. Non-finite floats are refused, never written as null."""
    _reject_non_finite(msgspec.to_builtins(obj), "")
    return _ENCODER.encode(obj)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
