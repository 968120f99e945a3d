"""`half_adapter`: a loader whose models implement only part of the ports (no weights at all). InvarLock refuses
it with E223 naming the missing members instead of failing somewhere inside a run."""

from __future__ import annotations

import hashlib
from typing import Any


class ByteTokenizer:
    """Token ids are the UTF-8 bytes of the text (+1, so that 0 separates documents)."""

    def encode(self, text: str) -> list[int]:
        return [b + 1 for b in text.encode("utf-8")]

    def separator_id(self) -> int | None:
        return 0

    def digest(self) -> str:
        return hashlib.sha256(b"bytes").hexdigest()


class _HalfModel:
    """Only the tokenizer and `score` of the ModelRunner port, nothing of WeightSource."""

    def tokenizer(self) -> ByteTokenizer:
        return ByteTokenizer()

    def score(self, windows: Any, progress: Any = None) -> Any:
        return iter(())


class HalfLoader:
    """Resolves every reference; its models lack most port members."""

    def tokenizer(self, ref: str, *, adapter: str) -> ByteTokenizer:
        return ByteTokenizer()

    def load(self, ref: str, options: Any) -> _HalfModel:
        return _HalfModel()


class KeywordLoader(HalfLoader):
    """A loader written for the keyword signature `load(ref, *, adapter, device, dtype, batch_size)` that
    ModelLoader.load(ref, options) replaced: refused with E223 before it is called."""

    def load(self, ref: str, *, adapter: str, device: str, dtype: str, batch_size: int | None) -> _HalfModel:  # type: ignore[override]
        return _HalfModel()
