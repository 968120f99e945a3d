"""Tokenizer port around a transformers fast tokenizer."""

from __future__ import annotations

import hashlib
import json
from typing import Any


class HFTokenizer:
    """ports.corpus.Tokenizer over a `PreTrainedTokenizerFast`.

    Args:
        inner: A transformers fast tokenizer (it must expose `backend_tokenizer`).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        # Hashed once, as loaded: encoding rewrites the backend's truncation/padding state (a BERT tokenizer.json
        # that sets truncation loses it on the first call), which must not change the digest.
        self._digest = hashlib.sha256(self.canonical_bytes()).hexdigest()

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without BOS/EOS or any other special token."""
        return list(self.inner(text, add_special_tokens=False)["input_ids"])

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """`encode` of each text in one call: the Rust backend encodes the batch on several threads (the same
        ids as one call per text, tested on the demo corpus)."""
        return [list(ids) for ids in self.inner(texts, add_special_tokens=False)["input_ids"]]

    def separator_id(self) -> int | None:
        """The EOS id, else the BOS id, else None."""
        for token_id in (self.inner.eos_token_id, self.inner.bos_token_id):
            if token_id is not None:
                return int(token_id)
        return None

    def digest(self) -> str:
        """sha256 (hex) over the backend tokenizer's JSON (vocab, merges, normalizers...) and special tokens."""
        return self._digest

    def canonical_bytes(self) -> bytes:
        """Canonical serialization of everything that changes how text maps to ids."""
        backend = json.loads(self.inner.backend_tokenizer.to_str())
        special = {str(k): str(v) for k, v in self.inner.special_tokens_map.items()}
        payload = {"backend": backend, "special_tokens": special}
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
