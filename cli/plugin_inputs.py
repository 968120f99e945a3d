"""A third-party plugin's tokenizers and corpus sources, with what they return checked against their ports
(ports/corpus.py) as the run reads it: a tokenizer's ids are ints in [0, 2^32) (the token stream is uint32; a
list, tuple or 1-D integer array), its separator such an int or None, its digest a sha256 hex string; a source's
info() a CorpusInfo and its texts() strings. Anything else stops the command with one E223 line naming the
entry and its distribution, where it ended in E999 (an OverflowError, an AttributeError) or was taken as
something else (strings of digits, floats and bools read as ids)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import numpy as np
from invarlock.domain.canonical import is_sha256_hex
from invarlock.domain.errors import UsageError
from invarlock.domain.examples import LabelledText
from invarlock.domain.model import CorpusInfo

from .registry import PluginEntry

_ID_LIMIT = 2**32  # the token stream is uint32 (application/certification/token_streams.py, STREAM_LAYOUT)

Fault = Callable[[str], NoReturn]


def fault_of(entry: PluginEntry, port: str, protocol: str) -> Fault:
    """A function raising E223 `<group> plugin 'NAME' (DIST VERSION): its <port>'s <what>`."""

    def fault(what: str) -> NoReturn:
        raise UsageError(
            "E223",
            f"{entry.group[:-1]} plugin '{entry.name}' ({entry.origin}): its {port}'s {what}",
            f"fix or uninstall {entry.distribution}; the protocol is {protocol}",
        )

    return fault


def checked_ids(ids: object, fault: Fault, method: str) -> list[int]:
    """`ids` (what `method` returned) as a list of Python ints in [0, 2^32)."""
    if isinstance(ids, (list, tuple)) and not ids:
        return []
    if not isinstance(ids, (list, tuple, np.ndarray)):
        fault(f"{method} returned {type(ids).__name__}, not a list of token ids")
    try:
        array = np.asarray(ids)
    except (OverflowError, ValueError):
        array = np.asarray(ids, dtype=object)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        values = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
        first = next((i for i in values if type(i) is not int), values[0] if values else None)
        fault(f"{method} returned token ids that are not ints (such as {first!r})")
    if array.size and (int(array.min()) < 0 or int(array.max()) >= _ID_LIMIT):
        outside = int(array.min()) if int(array.min()) < 0 else int(array.max())
        fault(f"{method} returned the token id {outside}, outside [0, 2^32)")
    listed: list[int] = array.tolist()
    return listed


class CheckedTokenizer:
    """A plugin adapter's Tokenizer whose answers are checked (checked_tokenizer gives the one with the optional
    members its tokenizer has)."""

    def __init__(self, inner: Any, fault: Fault) -> None:
        self._inner, self._fault = inner, fault

    def encode(self, text: str) -> list[int]:
        return checked_ids(self._inner.encode(text), self._fault, "encode()")

    def separator_id(self) -> int | None:
        sep = self._inner.separator_id()
        if sep is None:
            return None
        if (type(sep) is not int and not isinstance(sep, np.integer)) or not 0 <= int(sep) < _ID_LIMIT:
            self._fault(f"separator_id() returned {sep!r}, not None or a token id in [0, 2^32)")
        return int(sep)

    def digest(self) -> str:
        digest = self._inner.digest()
        if not is_sha256_hex(digest):
            self._fault(f"digest() returned {digest!r}, not a sha256 in lowercase hex")
        return digest


class _Batching(CheckedTokenizer):
    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        batch = self._inner.encode_batch(texts)
        if not isinstance(batch, (list, tuple)) or len(batch) != len(texts):
            self._fault(f"encode_batch() of {len(texts)} texts returned {type(batch).__name__}, not one list each")
        return [checked_ids(ids, self._fault, "encode_batch()") for ids in batch]


class _Stable(CheckedTokenizer):
    def implementation(self) -> str:
        named = self._inner.implementation()
        if not isinstance(named, str):
            self._fault(f"implementation() returned {type(named).__name__}, not str")
        return named


class _BatchingStable(_Batching, _Stable):
    pass


def checked_tokenizer(inner: Any, fault: Fault) -> CheckedTokenizer:
    """`inner` checked, with exactly the optional members (encode_batch, implementation) it has, as methods of
    its own: a runtime protocol check looks members up statically (Python 3.12+), never through __getattr__."""
    batching, stable = (callable(getattr(inner, name, None)) for name in ("encode_batch", "implementation"))
    kind = _BatchingStable if batching and stable else _Batching if batching else _Stable if stable else None
    return (kind or CheckedTokenizer)(inner, fault)


class CheckedSource:
    """A plugin provider's CorpusSource whose info() and documents are checked."""

    def __init__(self, inner: Any, fault: Fault) -> None:
        self._inner, self._fault = inner, fault

    def info(self) -> CorpusInfo:
        info = self._inner.info()
        if not isinstance(info, CorpusInfo):
            self._fault(f"info() returned {type(info).__name__}, not a CorpusInfo")
        return info

    def texts(self) -> Iterator[str]:
        found = self._inner.texts()
        try:
            documents = iter(found)
        except TypeError:
            self._fault(f"texts() returned {type(found).__name__}, not the documents")
        for number, text in enumerate(documents):
            if not isinstance(text, str):
                self._fault(f"texts() yielded {type(text).__name__} as document {number}, not str")
            yield text

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CheckedLabelledSource(CheckedSource):
    """A plugin provider's LabelledSource whose info() and examples are checked (text and label strings)."""

    def examples(self) -> Iterator[LabelledText]:
        found = self._inner.examples()
        try:
            examples = iter(found)
        except TypeError:
            self._fault(f"examples() returned {type(found).__name__}, not the labelled examples")
        for number, example in enumerate(examples):
            if not (isinstance(example, LabelledText) and isinstance(example.text, str)) or not isinstance(
                example.label, str
            ):
                self._fault(f"examples() yielded {example!r:.80} as example {number}, not a LabelledText of strings")
            yield example
