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
