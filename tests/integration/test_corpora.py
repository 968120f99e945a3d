"""Corpus providers on real text (gensim 4.4.0's test data) and on local files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from invarlock.adapters import corpus_files
from invarlock.adapters.corpus_demo import clean_wiki_markup
from invarlock.adapters.corpus_resolver import LocalCorpusResolver
from invarlock.domain.errors import UsageError

resolver = LocalCorpusResolver()


def open_corpus(provider: str, path: Path | None = None, text_field: str = "text") -> list[str]:
    source = resolver.open(provider, path=str(path) if path else None, text_field=text_field, split="validation")
    return list(source.texts())


def test_demo_wikipedia_is_about_a_hundred_clean_real_articles() -> None:
    start = time.perf_counter()
    docs = open_corpus("demo:wikipedia")
    assert time.perf_counter() - start < 10
    assert len(docs) >= 90 and sum(map(len, docs)) > 2_500_000
    assert all(len(doc) >= 2000 for doc in docs)
    for leftover in ("{{", "}}", "[[", "]]", "<ref", "<!--", "[http", "'''"):
        assert not any(leftover in doc for doc in docs), leftover
    assert docs[0].startswith("Anarchism\n\nAnarchism is a political philosophy")
    assert any(doc.startswith("Albert Einstein\n\n") for doc in docs)


def test_demo_wikipedia_is_the_same_on_every_open_and_iteration() -> None:
    source = resolver.open("demo:wikipedia", path=None, text_field="text", split="validation")
    assert list(source.texts()) == list(source.texts()) == open_corpus("demo:wikipedia")
    info = source.info()
    assert info.provider == "demo:wikipedia" and "Wikipedia contributors" in info.licence
    assert info.source.endswith(".bz2")


def test_demo_news_is_the_300_lee_background_articles() -> None:
    source = resolver.open("demo:news", path=None, text_field="text", split="validation")
    docs = list(source.texts())
    assert len(docs) == 300 and docs[0].startswith("Hundreds of people have been forced")
    assert "Lee" in source.info().licence


def test_markup_cleaner_keeps_text_and_drops_markup() -> None:
    raw = (
        "== History ==\n'''Bold''' [[Target|label]] and [[Plain]]{{cite|x={{inner}}}}<ref>r</ref>.\n"
        "[[File:X.jpg|thumb|a [[nested]] caption]]\n{|\n| cell\n|}\n[http://example.org site] &amp; done"
        "<!-- hidden -->\n[[Category:Things]]"
    )
    assert clean_wiki_markup(raw) == "History\nBold label and Plain.\n\nsite & done"


def test_text_file_documents_are_separated_by_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "docs.txt"
    path.write_text("first doc\nstill first\n\n\n  \nsecond doc\n\nthird\n", encoding="utf-8")
    assert open_corpus("text", path) == ["first doc\nstill first", "second doc", "third"]


def test_jsonl_documents_come_from_the_named_field(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps({"body": f"doc {i}", "id": i}) for i in range(3)) + "\n")
    assert open_corpus("jsonl", path, text_field="body") == ["doc 0", "doc 1", "doc 2"]


@pytest.mark.parametrize("bad_line", ['{"text": "ok"', '{"other": "x"}', "[1, 2]"])
def test_jsonl_bad_line_names_file_line_and_field(tmp_path: Path, bad_line: str) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "fine"}\n' + bad_line + "\n")
    with pytest.raises(UsageError) as info:
        open_corpus("jsonl", path)
    assert info.value.code == "E301" and str(path) in info.value.message and "line 2" in info.value.message


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as info:
        open_corpus("wikitext103")
    assert info.value.code == "E301" and "demo:wikipedia" in info.value.hint and "jsonl" in info.value.hint


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        open_corpus("text", tmp_path / "nope.txt")
    assert info.value.code == "E301" and "nope.txt" in info.value.message


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: p.mkdir(), "is a directory, not a file"),
        (lambda p: os.mkfifo(p), "is a FIFO, not a file"),  # it read "a directory or device"
        (lambda p: p.symlink_to(p), "is a link that loops, not a file"),  # it read "does not exist"
        (lambda p: p.symlink_to("gone.txt"), "is a link to gone.txt, which does not exist, not a file"),
    ],
    ids=["directory", "fifo", "symlink loop", "dangling link"],
)
def test_a_corpus_path_that_is_no_file_is_named_as_what_it_is(tmp_path: Path, make, said: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "corpus.txt"
    make(path)
    with pytest.raises(UsageError) as info:
        open_corpus("text", path)
    assert info.value.code == "E301" and info.value.message == f"corpus file {path} {said}", info.value.message


def test_a_corpus_path_holding_a_nul_is_e301_not_e999(tmp_path: Path) -> None:
    """The stat of such a name raises ValueError, which reached E999 and left the run incomplete (stop-62 hunt)."""
    with pytest.raises(UsageError) as info:
        open_corpus("text", f"{tmp_path}/a\0b.txt")
    assert info.value.code == "E301" and info.value.message.endswith("does not exist (its name holds a NUL)")


@pytest.mark.parametrize("provider", ["text", "jsonl"])
def test_empty_file_has_no_documents(tmp_path: Path, provider: str) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n \n")
    with pytest.raises(UsageError) as info:
        open_corpus(provider, path)
    assert info.value.code == "E304"


def test_wikitext2_without_a_local_cache_is_a_clear_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INVARLOCK_ALLOW_NETWORK", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_DATASETS_CACHE", "/nonexistent/invarlock-test-cache")
    with pytest.raises(UsageError) as info:
        open_corpus("wikitext2")
    assert info.value.code == "E301" and "demo:wikipedia" in info.value.hint


def test_wikitext2_lines_are_grouped_into_articles_at_title_headings(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [" = Alpha = \n", " \n", " Alpha text . \n", " = = Section = = \n", " More . \n", " = Beta = \n", " B . \n"]
    monkeypatch.setattr(corpus_files, "_load_wikitext_lines", lambda split: lines)
    assert open_corpus("wikitext2") == ["= Alpha =\nAlpha text .\n= = Section = =\nMore .", "= Beta =\nB ."]
    with pytest.raises(UsageError, match="no split"):
        resolver.open("wikitext2", path=None, text_field="text", split="dev")
