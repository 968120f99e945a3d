"""Fake corpora: in-memory documents and labelled examples (re-exported by tests/fakes/models.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from invarlock.domain.errors import UsageError
from invarlock.domain.examples import LabelledText
from invarlock.domain.model import CorpusInfo

from tests.fakes.corpus import InMemoryLabelledSet


class FakeCorpus:
    def __init__(self, docs: list[str]) -> None:
        self.docs = docs

    def info(self) -> CorpusInfo:
        return CorpusInfo(provider="fake", split="test", source="memory", licence="test text")

    def texts(self) -> Iterator[str]:
        return iter(self.docs)


@dataclass
class FakeCorpora:
    docs: list[str]
    labelled: list[LabelledText] = field(default_factory=list)

    def open(self, provider: str, *, path: str | None, text_field: str, split: str) -> FakeCorpus:
        return FakeCorpus(self.docs)

    def open_labelled(
        self, provider: str, *, path: str | None, text_field: str, label_field: str, split: str
    ) -> InMemoryLabelledSet:
        """The labelled examples (a text provider name is refused as the real resolver refuses it)."""
        if not self.labelled:
            raise UsageError("E301", f"{provider!r} is not a labelled dataset provider", "give the fake examples")
        info = CorpusInfo(provider=provider, split=split, source="memory", licence="test text")
        return InMemoryLabelledSet(info, self.labelled)


def labelled_words(n: int) -> list[LabelledText]:
    """`n` short distinct labelled texts, labels alternating `neg`/`pos`."""
    return [
        LabelledText(text=f"example {i} says {'good' if i % 2 else 'bad'}", label="pos" if i % 2 else "neg")
        for i in range(n)
    ]


def words(n: int, seed: int = 0) -> list[str]:
    """`n` deterministic pseudo-documents of 40–80 words each."""
    rng = np.random.default_rng(seed)
    return [" ".join(f"w{int(x)}" for x in rng.integers(0, 5000, rng.integers(40, 80))) for _ in range(n)]
