"""Corpus ports: a source of real text and the tokenizer that turns it into ids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np
from invarlock.domain.examples import LabelledText
from invarlock.domain.model import CorpusInfo


class Tokenizer(Protocol):
    """Text to token ids, plus a stable digest of the tokenizer's vocabulary and settings."""

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` with no special tokens added."""
        ...

    def separator_id(self) -> int | None:
        """The id placed between documents in the token stream (EOS, else BOS), or None."""
        ...

    def digest(self) -> str:
        """sha256 (hex) over the tokenizer's vocabulary, merges/model and special-token settings."""
        ...


@runtime_checkable
class BatchTokenizer(Tokenizer, Protocol):
    """Optional: a tokenizer that encodes many documents in one call (a fast tokenizer does it in parallel).
    `encode_batch(texts)[i]` must equal `encode(texts[i])` id for id: the window plan hashes the stream."""

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text with no special tokens added, in order."""
        ...


@runtime_checkable
class StableTokenizer(Tokenizer, Protocol):
    """Optional: a tokenizer that names the code that encodes, so that its token streams may be kept between
    processes (TokenStreamCache). A tokenizer without it is tokenized anew in every process."""

    def implementation(self) -> str:
        """Everything besides `digest()` that decides the ids: the encoding libraries' versions and this
        adapter's own code. Two tokenizers with equal digests and implementations encode every text alike."""
        ...


class TokenStreamCache(Protocol):
    """Token streams kept between processes under a key that covers every input that decides them (the
    documents, the tokenizer's digest and implementation, the separator and the stream layout)."""

    def load(self, key: str) -> np.ndarray | None:
        """The stream saved under `key` (1-D uint32, read-only), or None when there is none or it is damaged."""
        ...

    def save(self, key: str, stream: np.ndarray) -> None:
        """Keep `stream` under `key`; a stream the cache cannot keep is not kept (never an error)."""
        ...


class CorpusSource(Protocol):
    """An ordered, deterministic sequence of documents."""

    def info(self) -> CorpusInfo:
        """Provider, split, source and licence of the text."""
        ...

    def texts(self) -> Iterator[str]:
        """The documents, in a fixed order; the same every call."""
        ...


class LabelledSource(Protocol):
    """An ordered, deterministic sequence of labelled documents (classification data)."""

    def info(self) -> CorpusInfo:
        """Provider, split, source and licence of the data."""
        ...

    def examples(self) -> Iterator[LabelledText]:
        """The labelled documents, in a fixed order; the same every call."""
        ...


class CorpusResolver(Protocol):
    """Opens a corpus by provider name (`demo:wikipedia`, `demo:news`, `text`, `jsonl`, `wikitext2`, `hf`).

    `name`, `config` and `revision` name a hub dataset (provider `hf`); other providers never receive them."""

    def open(
        self,
        provider: str,
        *,
        path: str | None,
        text_field: str,
        split: str,
        name: str | None = None,
        config: str | None = None,
        revision: str | None = None,
    ) -> CorpusSource:
        """Raises UsageError (E301 unknown provider / missing file / bad field / not available offline, E304
        empty corpus)."""
        ...

    def open_labelled(
        self,
        provider: str,
        *,
        path: str | None,
        text_field: str,
        label_field: str,
        split: str,
        name: str | None = None,
        config: str | None = None,
        revision: str | None = None,
    ) -> LabelledSource:
        """A labelled set (`demo:polarity`, `jsonl` or `hf` with `text_field` and `label_field`). Raises
        UsageError (E301 unknown provider / missing file / bad field or label, E304 no examples)."""
        ...
