"""LocalCorpusResolver: opens a corpus by provider name, without touching the network."""

from __future__ import annotations

from collections.abc import Callable

from invarlock.domain.errors import UsageError

from .corpus_demo import open_demo_news, open_demo_wikipedia
from .corpus_files import StaticCorpus, open_jsonl_file, open_text_file, open_wikitext2
from .corpus_hf import PROVIDER as HF
from .corpus_hf import open_hf, open_hf_labelled
from .corpus_labelled import StaticLabelledSet, open_demo_polarity, open_labelled_jsonl
from .input_errors import reading_input

_Opener = Callable[[str | None, str, str], StaticCorpus]

_PROVIDERS: dict[str, _Opener] = {
    "demo:wikipedia": lambda path, field, split: open_demo_wikipedia(split),
    "demo:news": lambda path, field, split: open_demo_news(split),
    "text": lambda path, field, split: open_text_file(path, split),
    "jsonl": open_jsonl_file,
    "wikitext2": lambda path, field, split: open_wikitext2(split),
}

PROVIDERS: tuple[str, ...] = (*_PROVIDERS, HF)

_LabelledOpener = Callable[[str | None, str, str, str], StaticLabelledSet]

_LABELLED: dict[str, _LabelledOpener] = {
    "demo:polarity": lambda path, text_field, label_field, split: open_demo_polarity(split),
    "jsonl": open_labelled_jsonl,
}

LABELLED_PROVIDERS: tuple[str, ...] = (*_LABELLED, HF)


class LocalCorpusResolver:
    """CorpusResolver over the demo sets, local `text`/`jsonl` files, a cached WikiText-2 and `hf` (any
    dataset `datasets` reads, adapters/corpus_hf.py); labelled sets from `demo:polarity`, local `jsonl` files
    and `hf`."""

    def open(
        self,
        provider: str,
        *,
        path: str | None = None,
        text_field: str = "text",
        split: str = "validation",
        name: str | None = None,
        config: str | None = None,
        revision: str | None = None,
    ) -> StaticCorpus:
        """Open `provider`; `split` is recorded for local files and demo sets, selects WikiText-2's and an `hf`
        dataset's split. `name`, `config` and `revision` name a hub dataset (provider `hf` only).

        Raises:
            UsageError: E301 unknown provider, missing or unreadable file, missing field;
                E304 a corpus with no documents.
        """
        with reading_input("dataset", path or provider, "E301"):
            if provider == HF:
                return open_hf(path, text_field, split, name=name, config=config, revision=revision)
            opener = _PROVIDERS.get(provider)
            if opener is None and provider in _LABELLED:  # labelled examples: an accuracy run's data, not a text stream
                raise UsageError(
                    "E301",
                    f"{provider!r} holds labelled examples, not text to score as a stream",
                    f"set eval.metric.kind: accuracy for it, or a text provider: {', '.join(PROVIDERS)}",
                )
            if opener is None:
                raise UsageError("E301", f"unknown corpus provider {provider!r}", f"use one of: {', '.join(PROVIDERS)}")
            return opener(path, text_field, split)

    def open_labelled(
        self,
        provider: str,
        *,
        path: str | None = None,
        text_field: str = "text",
        label_field: str = "label",
        split: str = "validation",
        name: str | None = None,
        config: str | None = None,
        revision: str | None = None,
    ) -> StaticLabelledSet:
        """Open the labelled set `provider`; `split` is recorded (selects an `hf` dataset's split).

        Raises:
            UsageError: E301 unknown provider, missing or unreadable file, missing text or label;
                E304 a set with no examples.
        """
        if provider == HF:
            hub = {"name": name, "config": config, "revision": revision}
            with reading_input("dataset", path or provider, "E301"):
                return open_hf_labelled(path, text_field, label_field, split, **hub)
        opener = _LABELLED.get(provider)
        if opener is None:
            raise UsageError(
                "E301",
                f"{provider!r} is not a labelled dataset provider",
                f"eval.metric.kind accuracy needs one of: {', '.join(LABELLED_PROVIDERS)}",
            )
        with reading_input("dataset", path or provider, "E301"):
            return opener(path, text_field, label_field, split)
