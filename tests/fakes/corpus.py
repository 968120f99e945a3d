"""A recorded-state fake of the CorpusResolver port: documents held in memory under a provider name."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from invarlock.domain.errors import UsageError
from invarlock.domain.examples import LabelledText
from invarlock.domain.model import CorpusInfo


class InMemoryCorpus:
    """A CorpusSource over a tuple of documents copied when it was opened."""

    def __init__(self, info: CorpusInfo, docs: Sequence[str]) -> None:
        self._info, self._docs = info, tuple(docs)

    def info(self) -> CorpusInfo:
        return self._info

    def texts(self) -> Iterator[str]:
        return iter(self._docs)


class InMemoryLabelledSet:
    """A LabelledSource over a tuple of labelled documents copied when it was opened."""

    def __init__(self, info: CorpusInfo, examples: Sequence[LabelledText]) -> None:
        self._info, self._examples = info, tuple(examples)

    def info(self) -> CorpusInfo:
        return self._info

    def examples(self) -> Iterator[LabelledText]:
        return iter(self._examples)


@dataclass
class InMemoryCorpusResolver:
    """Opens `corpora[provider]` (or `labelled[provider]`); `opened` records (provider, split) of every
    successful open."""

    corpora: dict[str, list[str]]
    opened: list[tuple[str, str]] = field(default_factory=list)
    labelled: dict[str, list[LabelledText]] = field(default_factory=dict)

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
    ) -> InMemoryLabelledSet:
        if provider not in self.labelled:
            raise UsageError("E301", f"{provider!r} is not a labelled dataset provider", f"use {sorted(self.labelled)}")
        if not self.labelled[provider]:
            raise UsageError("E304", f"labelled set memory:{provider} has no examples", "give it some examples")
        self.opened.append((provider, split))
        info = CorpusInfo(provider=provider, split=split, source=f"memory:{provider}", licence="test text")
        return InMemoryLabelledSet(info, self.labelled[provider])

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
    ) -> InMemoryCorpus:
        if provider not in self.corpora:
            raise UsageError("E301", f"unknown corpus provider {provider!r}", f"use one of: {sorted(self.corpora)}")
        docs = self.corpora[provider]
        if not docs:
            raise UsageError("E304", f"corpus memory:{provider} has no documents", "give it some documents")
        self.opened.append((provider, split))
        info = CorpusInfo(provider=provider, split=split, source=f"memory:{provider}", licence="test text")
        return InMemoryCorpus(info, docs)
