"""The fake tokenizer: word-level ids from a hash of each word (re-exported by tests/fakes/models.py)."""

from __future__ import annotations

import hashlib

VOCAB = 997


class FakeTokenizer:
    """Word-level ids from a hash of each word; digest depends on a `flavour` string."""

    def __init__(self, flavour: str = "words") -> None:
        self.flavour = flavour

    def encode(self, text: str) -> list[int]:
        return [int(hashlib.sha256(w.encode()).hexdigest()[:6], 16) % (VOCAB - 1) + 1 for w in text.split()]

    def separator_id(self) -> int | None:
        return 0

    def digest(self) -> str:
        return hashlib.sha256(self.flavour.encode()).hexdigest()
