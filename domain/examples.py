"""Labelled data (metric kind `accuracy`): the examples, their prompts and digests (planning: example_plan.py).

An example's window is its prompt's token ids (the template filled with its text); its digest covers the ids
and the gold label, so the plan digest covers the labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import msgspec
import numpy as np

from .errors import UsageError

# Examples are not cut from a stream: the plan states stride 0.
EXAMPLE_STRIDE = 0


class LabelledText(msgspec.Struct, frozen=True, kw_only=True):
    """One labelled document as a dataset gives it: its text and its label's name."""

    text: str
    label: str


class Example(msgspec.Struct, frozen=True, kw_only=True):
    """One tokenized example: the prompt's token ids and the index of its gold label in the label names."""

    tokens: tuple[int, ...]
    label: int


def label_names(labels: Iterable[str]) -> tuple[str, ...]:
    """The distinct label names in index order: numeric order when every name is an integer (names of one number,
    such as "01" and "1", in text order), else sorted text."""
    names = set(labels)
    if names and all(_is_int(n) for n in names):
        # the text breaks ties: without it their order followed the set's, which changes with the hash seed
        return tuple(sorted(names, key=lambda name: (int(name), name)))
    return tuple(sorted(names))


def _is_int(name: str) -> bool:
    try:
        int(name)
    except ValueError:
        return False
    return True


def render_prompt(template: str, text: str) -> str:
    """The prompt of one example: `template` with `{text}` replaced by the example's text (UsageError E201 when
    the template has any other field or stray braces)."""
    try:
        return template.format(text=text)
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(
            "E201", f"eval.metric.template {template!r} is not a template with one {{text}} field: {exc}", "fix it"
        ) from exc


def example_digest(tokens: Sequence[int], label: int) -> str:
    """blake2b-128 over the prompt's uint32 little-endian ids, then b"\\x00label\\x00" and the label's decimal."""
    h = hashlib.blake2b(np.asarray(tokens, dtype="<u4").tobytes(), digest_size=16)
    h.update(b"\x00label\x00" + str(label).encode())
    return h.hexdigest()


def examples_dataset_digest(digests: Sequence[str], provider: str, split: str, tokenizer_sha256: str) -> str:
    """sha256 over every example's digest in dataset order (one per line), then provider, split and tokenizer."""
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode() + b"\n")
    for part in (provider, split, tokenizer_sha256):
        h.update(b"\x00" + part.encode())
    return h.hexdigest()
