"""A GGUF file's metadata texts, bounded before anything parses the file again: one 50 MB string took transformers'
conversion about eight minutes and 2.8 GB (it parses the metadata several times), where a model's longest text, a
chat template or a licence, is a few kilobytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError

LONGEST_TEXT = 1 << 20  # bytes of one key or one string value


def check_texts(path: Path, metadata: dict[str, Any], hint: str) -> None:
    """E102 naming the first key whose name or string value (or a string of its array) exceeds LONGEST_TEXT."""
    for key, value in metadata.items():
        size = max(_utf8_size(key), _longest(value))
        if size > LONGEST_TEXT:
            said = f"{path}: metadata {key[:80]!r} holds a text of {size:,} bytes, more than {LONGEST_TEXT:,}"
            raise UsageError("E102", f"{said}: no model's metadata is that long", hint)


def _longest(value: Any) -> int:
    if isinstance(value, str):
        return _utf8_size(value)
    if isinstance(value, list):
        return max(map(_longest, value), default=0)
    return 0


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
