"""The demo Wikipedia articles kept between processes: a later process reads the cleaned articles the first
wrote, identical to cleaning the dump again; a damaged file, or an edit of the cleaning code, cleans anew."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from invarlock.adapters import corpus_demo
from invarlock.adapters.corpus_demo import WIKI_FILE, gensim_data_dir, wikipedia_articles


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("INVARLOCK_CACHE_DIR", str(tmp_path))
    # a re-execution audit run earlier in this worker (an in-process `verify --baseline`) called clean_anew()
    monkeypatch.setattr(corpus_demo, "_read_kept", True)
    wikipedia_articles.cache_clear()
    yield tmp_path / "corpora"
    wikipedia_articles.cache_clear()  # no later test reads articles of this temporary cache


def _as_a_new_process_reads(monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[str, ...], int]:
    """The articles as a new process reads them, and how many times it parsed the dump for them."""
    wikipedia_articles.cache_clear()
    parsed: list[Path] = []
    pages = corpus_demo._pages

    def counted(path: Path) -> Iterator[tuple[str, str]]:
        parsed.append(path)
        return pages(path)

    monkeypatch.setattr(corpus_demo, "_pages", counted)
    articles = wikipedia_articles(gensim_data_dir() / WIKI_FILE)
    monkeypatch.setattr(corpus_demo, "_pages", pages)
    return articles, len(parsed)


def test_a_later_process_reads_the_articles_the_first_cleaned(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cleaned, parsed = _as_a_new_process_reads(monkeypatch)
    assert len(list(cache.glob("wikipedia-*.json"))) == 1
    read, parsed_again = _as_a_new_process_reads(monkeypatch)
    assert (parsed, parsed_again) == (1, 0) and read == cleaned and len(read) > 90


def test_a_damaged_file_is_cleaned_again(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cleaned, _ = _as_a_new_process_reads(monkeypatch)
    [kept] = cache.glob("wikipedia-*.json")
    data = bytearray(kept.read_bytes())
    data[-2] ^= 1
    kept.write_bytes(bytes(data))
    again, parsed = _as_a_new_process_reads(monkeypatch)
    assert parsed == 1 and again == cleaned


def test_an_edit_of_the_cleaning_code_is_another_key(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _as_a_new_process_reads(monkeypatch)
    edited = cache.parent / "corpus_demo.py"
    edited.write_bytes(Path(corpus_demo.__file__).read_bytes() + b"\n# edited\n")
    monkeypatch.setattr(corpus_demo, "__file__", str(edited))
    _, parsed = _as_a_new_process_reads(monkeypatch)
    assert parsed == 1 and len(list(cache.glob("wikipedia-*.json"))) == 2


def test_after_clean_anew_a_process_cleans_the_dump_itself_and_reads_no_kept_articles(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache hunt: cleaned articles rewritten with their digest recomputed were read by the re-execution audit
    too, which then confirmed windows of text the dump does not hold (build_reexecution_deps calls clean_anew)."""
    cleaned, _ = _as_a_new_process_reads(monkeypatch)
    [kept] = cache.glob("wikipedia-*.json")
    corpus_demo.clean_anew()
    again, parsed = _as_a_new_process_reads(monkeypatch)
    assert parsed == 1 and again == cleaned and kept.is_file()


def test_the_re_execution_audits_services_clean_the_demo_text_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    from invarlock.cli.bootstrap import build_reexecution_deps

    monkeypatch.setattr(corpus_demo, "_read_kept", True)
    build_reexecution_deps(None)
    assert corpus_demo._read_kept is False
