"""The corpus token stream: tokenized once per process for the same text and tokenizer (a changed document
or tokenizer is tokenized again), the cached stream cannot be written, and a batch-encoding tokenizer gives the
stream of one encode per document."""

from __future__ import annotations

import numpy as np
import pytest
from invarlock.application.certification import token_streams
from invarlock.application.certification.token_streams import BATCH_DOCS, token_stream
from invarlock.domain.errors import AbortError, UsageError

from tests.fakes.models import FakeCorpus, FakeTokenizer, words


@pytest.fixture(autouse=True)
def _no_stream_of_an_earlier_test() -> None:
    token_streams._memo.clear()


class CountingTokenizer(FakeTokenizer):
    def __init__(self, flavour: str = "words") -> None:
        super().__init__(flavour)
        self.encoded = 0

    def encode(self, text: str) -> list[int]:
        self.encoded += 1
        return super().encode(text)


class BatchFakeTokenizer(CountingTokenizer):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        self.batches.append(len(texts))
        return [FakeTokenizer.encode(self, text) for text in texts]


def _docs(n: int, salt: str = "") -> list[str]:
    return [f"{salt}{i} " + " ".join(words(1)) for i in range(n)]


def test_the_same_corpus_and_tokenizer_are_tokenized_once() -> None:
    tok = CountingTokenizer()
    first = token_stream(FakeCorpus(_docs(5)), tok)
    again = token_stream(FakeCorpus(_docs(5)), tok)
    assert tok.encoded == 5 and again is first
    with pytest.raises(ValueError):
        again[0] = 1  # read-only: a caller cannot change the next run's stream


def test_a_stream_above_the_memo_limit_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_streams, "MEMO_MAX_BYTES", 0)
    tok = CountingTokenizer()
    token_stream(FakeCorpus(_docs(5)), tok)
    token_stream(FakeCorpus(_docs(5)), tok)
    assert tok.encoded == 10 and not token_streams._memo


def test_a_changed_document_or_tokenizer_is_tokenized_again() -> None:
    tok = CountingTokenizer()
    first = token_stream(FakeCorpus(_docs(5)), tok)
    changed = _docs(5)
    changed[3] += " more"
    second = token_stream(FakeCorpus(changed), tok)
    assert tok.encoded == 10 and len(second) == len(first) + 1
    other = CountingTokenizer("bpe")
    token_stream(FakeCorpus(changed), other)
    assert other.encoded == 5


def test_batch_encoding_gives_the_stream_of_one_encode_per_document() -> None:
    docs = _docs(BATCH_DOCS + 3, salt="batch")
    batched, single = BatchFakeTokenizer(), CountingTokenizer()
    stream = token_stream(FakeCorpus(docs), batched)
    assert batched.batches == [BATCH_DOCS, 3] and batched.encoded == 0
    expected = token_stream(FakeCorpus([*docs, "x"]), single)[: len(stream)]  # another key: encoded one by one
    assert single.encoded == len(docs) + 1 and np.array_equal(stream, expected)


def test_a_corpus_without_tokens_is_an_error() -> None:
    with pytest.raises(AbortError) as err:
        token_stream(FakeCorpus(["", ""]), CountingTokenizer())
    assert err.value.code == "E304"


class SilentTokenizer(CountingTokenizer):
    """A broken tokenizer: every text is no tokens."""

    def encode(self, text: str) -> list[int]:
        return []


def test_text_the_tokenizer_maps_to_nothing_is_the_tokenizer_s_fault_not_the_corpus_s() -> None:
    with pytest.raises(UsageError) as err:
        token_stream(FakeCorpus(["real text here", "", "more text"]), SilentTokenizer())
    tokenizer = SilentTokenizer().digest()[:12]
    assert err.value.code == "E102" and err.value.exit_code == 2
    assert f"the tokenizer {tokenizer} maps all 2 non-blank documents" in err.value.message
    assert "(23 characters)" in err.value.message and "tokenizer.json" in err.value.hint


class StableCountingTokenizer(CountingTokenizer):
    """A tokenizer that names its implementation, so its streams may be kept between processes."""

    def __init__(self, implementation: str = "fake encoder 1") -> None:
        super().__init__()
        self.named = implementation

    def implementation(self) -> str:
        return self.named


class RecordedStreams:
    """TokenStreamCache fake: the streams saved, by key, and every key asked for."""

    def __init__(self) -> None:
        self.saved: dict[str, np.ndarray] = {}
        self.asked: list[str] = []

    def load(self, key: str) -> np.ndarray | None:
        self.asked.append(key)
        return self.saved.get(key)

    def save(self, key: str, stream: np.ndarray) -> None:
        self.saved[key] = np.array(stream)


def test_a_kept_stream_is_read_instead_of_tokenizing_in_a_later_process() -> None:
    kept = RecordedStreams()
    first = StableCountingTokenizer()
    stream = token_stream(FakeCorpus(_docs(5)), first, kept)
    assert first.encoded == 5 and list(kept.saved) == kept.asked and len(kept.saved) == 1
    token_streams._memo.clear()  # a new process
    later = StableCountingTokenizer()
    again = token_stream(FakeCorpus(_docs(5)), later, kept)
    assert later.encoded == 0 and np.array_equal(again, stream) and again is not stream
    with pytest.raises(ValueError):
        again[0] = 1


def test_another_implementation_or_document_is_another_key() -> None:
    kept = RecordedStreams()
    token_stream(FakeCorpus(_docs(5)), StableCountingTokenizer("fake encoder 1"), kept)
    token_streams._memo.clear()
    other = StableCountingTokenizer("fake encoder 2")
    token_stream(FakeCorpus(_docs(5)), other, kept)
    token_streams._memo.clear()
    changed = _docs(5)
    changed[0] += " more"
    edited = StableCountingTokenizer("fake encoder 1")
    token_stream(FakeCorpus(changed), edited, kept)
    assert other.encoded == edited.encoded == 5 and len(kept.saved) == 3


def test_a_tokenizer_that_does_not_name_its_implementation_is_never_kept() -> None:
    kept = RecordedStreams()
    tok = CountingTokenizer()
    token_stream(FakeCorpus(_docs(5)), tok, kept)
    assert tok.encoded == 5 and kept.asked == [] and kept.saved == {}
