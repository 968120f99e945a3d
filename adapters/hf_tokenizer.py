"""Tokenizer port around a transformers fast tokenizer."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError

# (sha256 of the backend JSON as the backend writes it, the special tokens) -> the digest of their canonical form. The
# canonical re-serialisation costs ~0.4 s on a 1.5 MB tokenizer.json, and a certification or calibration loads the
# same tokenizer several times; the key is exact (every byte both digests read), so a hit is the same digest.
_DIGESTS: dict[str, str] = {}


def refuse_empty(tokenizer: HFTokenizer, directory: Path) -> HFTokenizer:
    """`tokenizer`, unless it has fewer than two tokens: transformers builds such an empty tokenizer, one that maps
    every text to no ids, for a checkpoint directory without tokenizer files instead of failing (E102)."""
    size = len(tokenizer.inner)
    if size < 2:
        raise UsageError(
            "E102",
            f"{directory} has no usable tokenizer: its files give a vocabulary of {size} token(s)",
            "copy the tokenizer files of the model it was made from (tokenizer.json, tokenizer_config.json) into it",
        )
    return tokenizer


class HFTokenizer:
    """ports.corpus.Tokenizer over a `PreTrainedTokenizerFast`.

    Args:
        inner: A transformers fast tokenizer (it must expose `backend_tokenizer`).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        # Hashed once, as loaded: transformers rewrites the backend's truncation/padding state for each call (a
        # BERT tokenizer.json that sets truncation loses it), which `_ids` puts back and must not change the digest.
        self._digest = self._canonical_digest()

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without BOS/EOS or any other special token."""
        return list(self._ids(text))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """`encode` of each text in one call: the Rust backend encodes the batch on several threads (the same
        ids as one call per text, tested on the demo corpus)."""
        return [list(ids) for ids in self._ids(texts)]

    def _ids(self, texts: str | list[str]) -> Any:
        """The call leaves the backend's truncation and padding as loaded: transformers rewrites them for each
        call, and one tokenizer serves the preflight, both models' loads and an export, which saves them."""
        backend = self.inner.backend_tokenizer
        truncation, padding = backend.truncation, backend.padding
        try:
            return self.inner(texts, add_special_tokens=False)["input_ids"]
        except Exception as exc:  # the tokenizers backend raises a bare Exception (e.g. a WordLevel model's unk)
            raise UsageError(
                "E102",
                f"the tokenizer {type(self.inner).__name__} cannot encode the text: {str(exc).splitlines()[0][:200]}",
                "repair the checkpoint's tokenizer files",
            ) from None
        finally:
            _restore(backend, truncation, padding)

    def separator_id(self) -> int | None:
        """The EOS id, else the BOS id, else None."""
        for token_id in (self.inner.eos_token_id, self.inner.bos_token_id):
            if token_id is not None:
                return int(token_id)
        return None

    def implementation(self) -> str:
        """The code that encodes: this module's source digest, the tokenizers and transformers versions and the
        transformers tokenizer class."""
        return f"{_libraries()}; {type(self.inner).__module__}.{type(self.inner).__qualname__}"

    def digest(self) -> str:
        """sha256 (hex) over the backend tokenizer's JSON (vocab, merges, normalizers...) and special tokens."""
        return self._digest

    def canonical_bytes(self) -> bytes:
        """Canonical serialization of everything that changes how text maps to ids."""
        return _canonical(self.inner.backend_tokenizer.to_str(), self._special_tokens())

    def _special_tokens(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.inner.special_tokens_map.items()}

    def _canonical_digest(self) -> str:
        backend, special = self.inner.backend_tokenizer.to_str(), self._special_tokens()
        key = f"{hashlib.sha256(backend.encode()).hexdigest()}:{json.dumps(special, sort_keys=True)}"
        if key not in _DIGESTS:
            _DIGESTS[key] = hashlib.sha256(_canonical(backend, special)).hexdigest()
        return _DIGESTS[key]


def _restore(backend: Any, truncation: dict[str, Any] | None, padding: dict[str, Any] | None) -> None:
    if truncation is None:
        backend.no_truncation()
    else:
        backend.enable_truncation(**truncation)
    if padding is None:
        backend.no_padding()
    else:
        backend.enable_padding(**padding)


def _canonical(backend_json: str, special: dict[str, str]) -> bytes:
    payload = {"backend": json.loads(backend_json), "special_tokens": special}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@functools.cache
def _libraries() -> str:
    import tokenizers
    import transformers

    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    versions = f"tokenizers {tokenizers.__version__}; transformers {transformers.__version__}"
    return f"invarlock hf_tokenizer {source}; {versions}"
