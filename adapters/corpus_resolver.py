"""LocalCorpusResolver: opens a corpus by provider name, without touching the network."""

from __future__ import annotations

from collections.abc import Callable

from invarlock.domain.errors import UsageError

from .corpus_demo import open_demo_news, open_demo_wikipedia
from .corpus_files import StaticCorpus, open_jsonl_file, open_text_file, open_wikitext2

_Opener = Callable[[str | None, str, str], StaticCorpus]

_PROVIDERS: dict[str, _Opener] = {
    "demo:wikipedia": lambda path, field, split: open_demo_wikipedia(split),
    "demo:news": lambda path, field, split: open_demo_news(split),
    "text": lambda path, field, split: open_text_file(path, split),
    "jsonl": open_jsonl_file,
    "wikitext2": lambda path, field, split: open_wikitext2(split),
}

PROVIDERS: tuple[str, ...] = tuple(_PROVIDERS)


class LocalCorpusResolver:
    """CorpusResolver over the demo sets, local `text`/`jsonl` files and a cached WikiText-2."""

    def open(
        self, provider: str, *, path: str | None = None, text_field: str = "text", split: str = "validation"
    ) -> StaticCorpus:
        """Open `provider`; `split` is recorded for local files and demo sets, selects WikiText-2's split.

        Raises:
            UsageError: E301 unknown provider, missing or unreadable file, missing field;
                E304 a corpus with no documents.
        """
        opener = _PROVIDERS.get(provider)
        if opener is None:
            raise UsageError("E301", f"unknown corpus provider {provider!r}", f"use one of: {', '.join(PROVIDERS)}")
        return opener(path, text_field, split)
