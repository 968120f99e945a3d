"""The corpus ports' contract (CorpusResolver, CorpusSource, Tokenizer), run against every adapter and the fakes.

A new adapter joins the suite with one fixture parameter:

- a corpus adapter: one entry in `WRITERS`, a function `(tmp_path, docs) -> Opening` that makes `docs` (a
  list of one-paragraph documents, possibly empty) readable through the adapter and says how to open them;
- a corpus adapter that serves fixed text (a demo set): one entry in `FIXED`, `(resolver factory, provider)`;
- a tokenizer: one entry in `TOKENIZERS`, a function `() -> Tokenizer` giving a freshly loaded instance
  (add `marks=pytest.mark.model` or `hf` when it needs the hf extra).

Every test below then runs on it too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from invarlock.adapters.corpus_resolver import LocalCorpusResolver
from invarlock.domain.errors import UsageError
from invarlock.ports.corpus import CorpusResolver, CorpusSource, Tokenizer

from tests.fakes.corpus import InMemoryCorpusResolver
from tests.fakes.models import FakeTokenizer

DOCS = [
    "The river freezes every winter, and the ferry stops until March.",
    "Zebra crossings were painted in 1951; the first one was in Slough.",
    "A second line of evidence — naïve “quotes” and Ünïcode — follows.",
    "Short.",
]


@dataclass(frozen=True)
class Opening:
    """How to open one corpus through a resolver: the arguments of `CorpusResolver.open`."""

    resolver: CorpusResolver
    provider: str
    path: str | None = None
    text_field: str = "text"

    def open(self, split: str = "validation") -> CorpusSource:
        return self.resolver.open(self.provider, path=self.path, text_field=self.text_field, split=split)


def text_file(tmp_path: Path, docs: list[str]) -> Opening:
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(docs) + ("\n" if docs else ""), encoding="utf-8")
    return Opening(LocalCorpusResolver(), "text", str(path))


def jsonl_file(tmp_path: Path, docs: list[str]) -> Opening:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"body": d, "id": i}) + "\n" for i, d in enumerate(docs)), encoding="utf-8")
    return Opening(LocalCorpusResolver(), "jsonl", str(path), text_field="body")


def in_memory(tmp_path: Path, docs: list[str]) -> Opening:
    return Opening(InMemoryCorpusResolver({"memory": list(docs)}), "memory")


def _hf_dataset(docs: list[str]) -> Any:
    import datasets

    datasets.disable_progress_bars()
    features = datasets.Features({"id": datasets.Value("int64"), "body": datasets.Value("string")})
    return datasets.Dataset.from_dict({"id": list(range(len(docs))), "body": docs}, features=features)


def hf_saved_to_disk(tmp_path: Path, docs: list[str]) -> Opening:
    _hf_dataset(docs).save_to_disk(tmp_path / "saved")
    return Opening(LocalCorpusResolver(), "hf", str(tmp_path / "saved"), text_field="body")


def hf_parquet(tmp_path: Path, docs: list[str]) -> Opening:
    _hf_dataset(docs).to_parquet(tmp_path / "corpus.parquet")
    return Opening(LocalCorpusResolver(), "hf", str(tmp_path / "corpus.parquet"), text_field="body")


WRITERS: dict[str, Callable[[Path, list[str]], Opening]] = {
    "text": text_file,
    "jsonl": jsonl_file,
    "in-memory-fake": in_memory,
    "hf-save-to-disk": hf_saved_to_disk,
    "hf-parquet": hf_parquet,
}
NEEDS_HF_EXTRA = {"hf-save-to-disk", "hf-parquet"}  # `datasets` comes with the hf extra
FIXED: dict[str, tuple[Callable[[], CorpusResolver], str]] = {
    "demo:news": (LocalCorpusResolver, "demo:news"),
    "demo:wikipedia": (LocalCorpusResolver, "demo:wikipedia"),
}


def demo_tokenizer() -> Tokenizer:
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().tokenizer("demo:smollm2-135m", adapter="auto")


TOKENIZERS = [
    pytest.param(FakeTokenizer, id="fake"),
    pytest.param(demo_tokenizer, id="hf-smollm2", marks=pytest.mark.model),
]


@pytest.fixture(
    params=[pytest.param(n, marks=[pytest.mark.hf] if n in NEEDS_HF_EXTRA else []) for n in sorted(WRITERS)]
)
def write(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[list[str]], Opening]:
    return lambda docs: WRITERS[request.param](tmp_path, docs)


@pytest.fixture(params=sorted(FIXED))
def fixed(request: pytest.FixtureRequest) -> Opening:
    make, provider = FIXED[request.param]
    return Opening(make(), provider)


# --- CorpusResolver / CorpusSource ------------------------------------------------------------------------


def test_documents_come_back_in_the_order_written(write: Callable[[list[str]], Opening]) -> None:
    assert list(write(DOCS).open().texts()) == DOCS
    assert list(write(DOCS[::-1]).open().texts()) == DOCS[::-1]


def test_texts_are_the_same_on_every_call_and_every_open(write: Callable[[list[str]], Opening]) -> None:
    opening = write(DOCS)
    corpus = opening.open()
    first = list(corpus.texts())
    assert list(corpus.texts()) == first
    assert list(opening.open().texts()) == first


def test_info_names_the_provider_and_the_split_asked_for(write: Callable[[list[str]], Opening]) -> None:
    opening = write(DOCS)
    for split in ("validation", "train"):
        info = opening.open(split).info()
        assert (info.provider, info.split) == (opening.provider, split)
        assert info.source.strip() and info.licence.strip()


def test_an_unknown_provider_is_E301(write: Callable[[list[str]], Opening]) -> None:
    resolver = write(DOCS).resolver
    with pytest.raises(UsageError) as err:
        resolver.open("no-such-provider", path=None, text_field="text", split="validation")
    assert err.value.code == "E301" and "no-such-provider" in err.value.message


def test_a_corpus_without_documents_is_E304(write: Callable[[list[str]], Opening]) -> None:
    with pytest.raises(UsageError) as err:
        write([]).open()
    assert err.value.code == "E304"


def test_a_fixed_corpus_is_non_empty_deterministic_and_says_where_it_came_from(fixed: Opening) -> None:
    first, second = fixed.open(), fixed.open("test")
    docs = list(first.texts())
    assert docs and all(isinstance(d, str) and d.strip() for d in docs)
    assert list(first.texts()) == docs == list(second.texts())
    assert (first.info().provider, second.info().split) == (fixed.provider, "test")
    assert first.info().source.strip() and first.info().licence.strip()


# --- Tokenizer ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=TOKENIZERS)
def make_tokenizer(request: pytest.FixtureRequest) -> Callable[[], Tokenizer]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def tokenizer(make_tokenizer: Callable[[], Tokenizer]) -> Tokenizer:
    return make_tokenizer()


def test_encode_is_deterministic_and_gives_non_negative_ids(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode(DOCS[0])
    assert ids and all(isinstance(i, int) and i >= 0 for i in ids)
    assert tokenizer.encode(DOCS[0]) == ids
    assert tokenizer.encode(DOCS[1]) != ids


def test_encode_adds_no_special_tokens(tokenizer: Tokenizer) -> None:
    assert tokenizer.encode("") == []
    separator = tokenizer.separator_id()
    assert separator is None or isinstance(separator, int)
    for doc in DOCS:
        assert separator not in tokenizer.encode(doc)


def test_the_digest_is_sha256_hex_and_stable_across_calls_and_fresh_loads(
    tokenizer: Tokenizer, make_tokenizer: Callable[[], Tokenizer]
) -> None:
    digest = tokenizer.digest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest), digest
    assert tokenizer.digest() == digest
    tokenizer.encode(DOCS[2])  # encoding must not change what the digest covers
    assert tokenizer.digest() == digest == make_tokenizer().digest()
