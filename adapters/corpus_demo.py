"""Real English text shipped in gensim 4.4.0's test data: Wikipedia articles and the Lee news corpus.

gensim is never imported: only its package folder is located, and its data files are read.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import hashlib
import html
import importlib.util
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import msgspec
from invarlock.domain.errors import UsageError
from invarlock.domain.model import CorpusInfo

from .cache_dir import cache_root
from .cache_files import file_sha256, keep_newest, read_checked, write_checked
from .corpus_files import StaticCorpus

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
NEWS_FILE = "lee_background.cor"
MIN_ARTICLE_CHARS = 2000
ARTICLES_MAGIC = b"invarlock demo articles v1\n"
KEPT_CLEANINGS = 4
WIKI_LICENCE = "CC BY-SA 3.0 / GFDL; text by Wikipedia contributors (enwiki dump excerpt, May 2016)"
NEWS_LICENCE = "Lee, Pincombe & Welsh (2005) news corpus, as distributed in gensim 4.4.0's test data"

_SUB = [
    (re.compile(r"<!--.*?-->", re.S), ""),
    (re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.S | re.I), ""),
    (re.compile(r"<(math|gallery|timeline|score)[^>]*>.*?</\1>", re.S | re.I), ""),
    (re.compile(r"<[^<>\n]+>"), ""),
]
_INNER_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_INNER_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\|\}", re.S)
_INNER_LINK = re.compile(r"\[\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\]")
_DROPPED_NAMESPACE = re.compile(r"^:?\s*(file|image|media|category)\s*:", re.I)
_INTERLANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z]+)*:")
_EXTERNAL = re.compile(r"\[(?:https?:)?//[^\s\]]*\s*([^\]]*)\]")
_EMPHASIS = re.compile(r"'{2,}")
_HEADING = re.compile(r"^=+\s*(.*?)\s*=+\s*$", re.M)
_LIST_MARK = re.compile(r"^[*#:;]+\s*", re.M)
_STRAY_LINE = re.compile(r"^\s*(?:[|!]|(?:File|Image):).*$", re.M)
_BLANKS = re.compile(r"\n\s*\n+")


def _remove_nested(pattern: re.Pattern[str], text: str) -> str:
    while True:
        text, count = pattern.subn("", text)
        if not count:
            return text


def _link_text(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if _DROPPED_NAMESPACE.match(target) or _INTERLANGUAGE.match(target):
        return ""
    return (label.rpartition("|")[2] if label else target.lstrip(":")).strip()


def clean_wiki_markup(text: str) -> str:
    """Plain text of a wiki article: markup removed, headings kept as their own lines.

    Args:
        text: the article's raw wikitext.

    Returns:
        Paragraphs separated by one blank line, no templates, tables, links, refs or HTML.
    """
    for pattern, repl in _SUB:
        text = pattern.sub(repl, text)
    text = _remove_nested(_INNER_TEMPLATE, text)
    text = _remove_nested(_INNER_TABLE, text)
    text = _EXTERNAL.sub(lambda m: m.group(1), text)
    while True:  # innermost links first so captions inside [[File:...]] vanish with their file
        text, count = _INNER_LINK.subn(_link_text, text)
        if not count:
            break
    text = _EMPHASIS.sub("", text)
    text = _HEADING.sub(r"\1", text)
    text = _STRAY_LINE.sub("", _LIST_MARK.sub("", text))
    text = html.unescape(text).replace("{{", "").replace("}}", "").replace("[[", "").replace("]]", "")
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def gensim_data_dir() -> Path:
    """The folder of gensim's test data files; UsageError E301 when gensim 4.4.0 is not installed."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("E301", "demo text needs the gensim package data", "pip install --no-deps gensim==4.4.0")
    return Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"


def _pages(path: Path) -> Iterator[tuple[str, str]]:
    """(title, wikitext) of every main-namespace, non-redirect page, in dump order."""
    with bz2.open(path, "rb") as stream:
        for _, elem in ET.iterparse(stream):
            if elem.tag.rpartition("}")[2] != "page":
                continue
            fields = {child.tag.rpartition("}")[2]: child for child in elem}
            text = elem.find(".//{*}revision/{*}text")
            if fields["ns"].text == "0" and "redirect" not in fields and text is not None:
                yield fields["title"].text or "", text.text or ""
            elem.clear()


_read_kept = True  # clean_anew() sets it False for the process


def clean_anew() -> None:
    """This process cleans the demo text itself from here on, and reads no cleaned articles an earlier process
    kept: the re-execution audit's windows must rest on its own computation (a kept file is checked only against
    its own digest, which whoever writes the cache can recompute)."""
    global _read_kept
    _read_kept = False
    wikipedia_articles.cache_clear()


@functools.lru_cache(maxsize=1)
def wikipedia_articles(path: Path) -> tuple[str, ...]:
    """Cleaned articles (title line, blank line, body) with a body of ≥ 2000 characters, cached in this process
    and in `<cache root>/corpora/` under a key of the dump's bytes and this module's source (adapters/cache_files.py:
    a damaged file is cleaned again)."""
    kept = cache_root() / "corpora" / f"wikipedia-{_articles_key(path)}.json"
    payload = read_checked(kept, ARTICLES_MAGIC) if _read_kept else None
    if payload is not None:
        with contextlib.suppress(msgspec.DecodeError):
            return tuple(msgspec.json.decode(payload, type=list[str]))
    cleaned = ((title, clean_wiki_markup(raw)) for title, raw in _pages(path))
    articles = tuple(f"{title}\n\n{body}" for title, body in cleaned if len(body) >= MIN_ARTICLE_CHARS)
    if write_checked(kept, ARTICLES_MAGIC, msgspec.json.encode(articles)):
        keep_newest(kept.parent, "wikipedia-*.json", KEPT_CLEANINGS)
    return articles


def _articles_key(path: Path) -> str:
    # The cleaning is this module's code: an edit of it must not read articles an earlier version cleaned.
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def _existing(name: str) -> Path:
    path = gensim_data_dir() / name
    if not path.is_file():
        raise UsageError("E301", f"demo text file {path} is missing", "pip install --no-deps gensim==4.4.0")
    return path


def open_demo_wikipedia(split: str) -> StaticCorpus:
    """About 99 real Wikipedia articles (≈ 2.9 M characters) from gensim's test data."""
    path = _existing(WIKI_FILE)
    info = CorpusInfo(provider="demo:wikipedia", split=split, source=str(path), licence=WIKI_LICENCE)
    return StaticCorpus(info, wikipedia_articles(path))


def open_demo_news(split: str) -> StaticCorpus:
    """The 300 Lee background news articles, one per line of lee_background.cor."""
    path = _existing(NEWS_FILE)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    info = CorpusInfo(provider="demo:news", split=split, source=str(path), licence=NEWS_LICENCE)
    return StaticCorpus(info, [line.strip() for line in lines if line.strip()])
