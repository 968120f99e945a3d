"""Corpora from local files (`text`, `jsonl`) and a locally cached WikiText-2 (`wikitext2`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from invarlock.domain.canonical import is_utf8
from invarlock.domain.errors import UsageError
from invarlock.domain.model import CorpusInfo

from .error_text import said
from .node_kind import odd_node

_BLANK_LINES = re.compile(r"\n\s*\n")
_WIKITEXT_SPLITS = {"train", "validation", "test"}
_ARTICLE_HEADING = re.compile(r"^ = [^=].* = $")


class StaticCorpus:
    """A corpus held in memory as a tuple of documents: deterministic and re-iterable.

    Args:
        info: provider, split, source and licence of the text.
        docs: the documents, in their fixed order.
    """

    def __init__(self, info: CorpusInfo, docs: Sequence[str]) -> None:
        if not docs:
            raise UsageError(
                "E304", f"corpus {info.source} has no documents (no text but blanks)", "point at real text"
            )
        self._info = info
        self._docs = tuple(docs)

    def info(self) -> CorpusInfo:
        """Provider, split, source and licence of the text."""
        return self._info

    def texts(self) -> Iterator[str]:
        """The documents, in the same order on every call."""
        return iter(self._docs)


def read_text_file(path: str | None) -> tuple[Path, str]:
    """The path and UTF-8 text of a local data file (UsageError E301 when missing or unreadable)."""
    if not path:
        raise UsageError(
            "E301", "this corpus provider needs a file path", "set dataset.path (or dataset.file) in the config"
        )
    file = Path(path).expanduser()  # as model paths are: `~/corpus.txt` is in the home folder
    _require_regular(file)
    try:
        return file, file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError("E301", f"corpus file {file} is unreadable: {exc}", "use a UTF-8 text file") from exc


def _require_regular(file: Path) -> None:
    """E301 naming what `file` is when it is no regular file: missing, a directory, a FIFO, a link that loops or
    leads nowhere (a loop read "does not exist", a FIFO "a directory or device")."""
    if "\0" in str(file):  # no file can have the name
        raise UsageError("E301", f"corpus file {file} does not exist (its name holds a NUL)", "check the path")
    try:
        kind = odd_node(file)
        missing = kind is None and not file.exists()
    except OSError as exc:  # EACCES on a folder of the path, ...
        raise UsageError("E301", f"corpus file {file} cannot be read: {exc.strerror}", "check the path") from exc
    if missing:
        raise UsageError("E301", f"corpus file {file} does not exist", "check the path")
    if kind is not None:
        raise UsageError("E301", f"corpus file {file} is {kind}, not a file", "point dataset.path at a text file")


def open_text_file(path: str | None, split: str) -> StaticCorpus:
    """A UTF-8 text file whose documents are separated by one or more blank lines."""
    file, text = read_text_file(path)
    docs = [doc.strip() for doc in _BLANK_LINES.split(text.replace("\r\n", "\n")) if doc.strip()]
    info = CorpusInfo(provider="text", split=split, source=str(file), licence="user-supplied file")
    return StaticCorpus(info, docs)


def json_line(file: Path, number: int, line: str) -> object:
    """One line of a JSONL file, decoded; UsageError E301 naming the line when it is not JSON, is nested deeper
    than the decoder's stack, holds an integer over 4300 digits or a lone surrogate escape ("\\ud800", which no
    tokenizer or event can take)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError("E301", f"{file} line {number} is not JSON: {exc.msg}", "one object per line") from exc
    except (RecursionError, ValueError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        message = f"{file} line {number} is unreadable JSON: {reason}"
        raise UsageError("E301", message, "one flat object per line") from exc
    if "\\ud" in line.lower() and not is_utf8(json.dumps(record, ensure_ascii=False)):
        raise UsageError("E301", f"{file} line {number} holds a lone surrogate escape", "save the text as UTF-8")
    return record


def _jsonl_doc(file: Path, number: int, line: str, text_field: str) -> str:
    record = json_line(file, number, line)
    value = record.get(text_field) if isinstance(record, dict) else None
    if not isinstance(value, str):
        raise UsageError(
            "E301",
            f"{file} line {number} has no string field {text_field!r}",
            "set dataset.text_field in the config to the field holding the document",
        )
    return value


def open_jsonl_file(path: str | None, text_field: str, split: str) -> StaticCorpus:
    """One JSON object per line; the document is the string in field `text_field`."""
    file, text = read_text_file(path)
    docs = [
        _jsonl_doc(file, number, line, text_field)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    info = CorpusInfo(provider="jsonl", split=split, source=str(file), licence="user-supplied file")
    return StaticCorpus(info, [doc for doc in docs if doc.strip()])


def _wikitext_articles(lines: Sequence[str]) -> list[str]:
    articles: list[list[str]] = []
    for line in lines:
        if not line.strip():
            continue
        if _ARTICLE_HEADING.match(line.rstrip("\n")) or not articles:
            articles.append([])
        articles[-1].append(line.strip())
    return ["\n".join(article) for article in articles]


def _load_wikitext_lines(split: str) -> list[str]:
    hint = (
        "WikiText-2 is network-only: fetch it once with INVARLOCK_ALLOW_NETWORK=1 (needs the `datasets` package), "
        "or set dataset.provider: demo:wikipedia"
    )
    try:
        import datasets
    except ImportError as exc:
        raise UsageError("E301", "provider wikitext2 needs the `datasets` package", hint) from exc
    from .corpus_hf_load import offline_unless_allowed

    try:
        with offline_unless_allowed():  # an earlier import of `datasets` must not turn the network back on
            data = datasets.load_dataset("wikitext", "wikitext-2-raw-v1", split=split)
    except UsageError:  # INVARLOCK_ALLOW_NETWORK itself (E200): not a corpus that is missing
        raise
    except Exception as exc:  # datasets raises many unrelated types for "not cached / offline"
        raise UsageError("E301", f"WikiText-2 ({split}) is not cached locally ({said(exc, 160)})", hint) from exc
    return [str(row["text"]) for row in data]


def open_wikitext2(split: str) -> StaticCorpus:
    """WikiText-2 raw from the local `datasets` cache; network only with INVARLOCK_ALLOW_NETWORK=1."""
    if split not in _WIKITEXT_SPLITS:
        raise UsageError("E301", f"wikitext2 has no split {split!r}", "use train, validation or test")
    info = CorpusInfo(
        provider="wikitext2",
        split=split,
        source="datasets:wikitext/wikitext-2-raw-v1",
        licence="CC BY-SA 3.0 (Wikipedia contributors; Merity et al. 2016)",
    )
    return StaticCorpus(info, _wikitext_articles(_load_wikitext_lines(split)))
