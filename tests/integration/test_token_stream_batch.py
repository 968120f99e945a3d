"""The demo tokenizer's batch encoding gives the token stream of one encode per document on the whole demo
corpus: the same ids, so the same dataset digest and window plan (docs/performance.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.hf

DEMO_REF = "demo:smollm2-135m"


def test_batch_encoding_the_demo_corpus_gives_the_ids_and_digest_of_one_encode_per_document(demo_dir: Path) -> None:
    from invarlock.adapters.corpus_demo import open_demo_wikipedia
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.application.certification.token_streams import token_stream
    from invarlock.domain.windows import dataset_digest

    tokenizer = HFModelLoader().tokenizer(DEMO_REF, adapter="auto")
    corpus = open_demo_wikipedia("validation")
    texts = list(corpus.texts())
    sep = tokenizer.separator_id()
    assert sep is not None
    one_by_one = np.fromiter((t for text in texts if (ids := tokenizer.encode(text)) for t in [*ids, sep]), np.uint32)
    batched = token_stream(corpus, tokenizer)
    assert len(texts) > 1 and len(batched) > 100_000
    assert np.array_equal(batched, one_by_one)
    info, sha = corpus.info(), tokenizer.digest()
    assert dataset_digest(batched, info.provider, info.split, sha) == dataset_digest(
        one_by_one, info.provider, info.split, sha
    )


def test_the_demo_stream_kept_in_the_file_cache_is_the_tokenized_stream(demo_dir: Path, tmp_path: Path) -> None:
    """A later process reads the stream the first kept, id for id, and never for another tokenizer library."""
    import tokenizers
    import transformers
    from invarlock.adapters.corpus_demo import open_demo_wikipedia
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.token_cache import FileTokenStreamCache
    from invarlock.application.certification import token_streams

    tokenizer = HFModelLoader().tokenizer(DEMO_REF, adapter="auto")
    named = tokenizer.implementation()
    assert f"tokenizers {tokenizers.__version__}" in named and f"transformers {transformers.__version__}" in named
    corpus, cache = open_demo_wikipedia("validation"), FileTokenStreamCache(tmp_path)
    token_streams._memo.clear()
    tokenized = token_streams.token_stream(corpus, tokenizer, cache)
    [kept] = tmp_path.glob("*.tokens")
    token_streams._memo.clear()
    read = token_streams.token_stream(corpus, tokenizer, cache)
    assert read is not tokenized and np.array_equal(read, tokenized) and read.dtype == tokenized.dtype
    token_streams._memo.clear()
    try:
        token_streams.token_stream(corpus, _AnotherLibrary(tokenizer), cache)
    finally:
        token_streams._memo.clear()
    assert len(list(tmp_path.glob("*.tokens"))) == 2 and kept.exists()


class _AnotherLibrary:
    """The demo tokenizer as another tokenizers release would name it."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def implementation(self) -> str:
        return self.inner.implementation().replace("tokenizers ", "tokenizers 0.0.0+other ")  # type: ignore[attr-defined]
