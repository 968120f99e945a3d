"""Labelled sets for classification accuracy: a local JSONL file (`jsonl`) and Pang & Lee polarity (`demo:polarity`).

gensim is never imported: its test-data file `pang_lee_polarity.cor` is read (cp1252, lines `__label__neg text`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from invarlock.domain.errors import UsageError
from invarlock.domain.examples import LabelledText
from invarlock.domain.model import CorpusInfo

from .corpus_demo import gensim_data_dir
from .corpus_files import json_line, read_text_file

POLARITY_FILE = "pang_lee_polarity.cor"
POLARITY_LICENCE = (
    "Pang & Lee (2005) sentence polarity data (rottentomatoes.com snippets), 100 negative + 100 positive, "
    "as distributed in gensim 4.4.0's test data"
)
_LABEL_PREFIX = "__label__"


class StaticLabelledSet:
    """Labelled documents held in memory: deterministic and re-iterable (E304 when there are none)."""

    def __init__(self, info: CorpusInfo, examples: Sequence[LabelledText]) -> None:
        if not examples:
            raise UsageError("E304", f"labelled set {info.source} has no examples", "point at a non-empty file")
        self._info = info
        self._examples = tuple(examples)

    def info(self) -> CorpusInfo:
        """Provider, split, source and licence of the data."""
        return self._info

    def examples(self) -> Iterator[LabelledText]:
        """The labelled documents, in file order, the same on every call."""
        return iter(self._examples)


def label_of(value: object) -> str | None:
    """A label's name: a non-empty string (stripped) or an integer; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return str(value) if isinstance(value, int) else None


def _jsonl_example(file: Path, number: int, line: str, text_field: str, label_field: str) -> LabelledText:
    record = json_line(file, number, line)
    record = record if isinstance(record, dict) else {}
    text, label = record.get(text_field), label_of(record.get(label_field))
    if not isinstance(text, str) or not text.strip():
        raise UsageError(
            "E301", f"{file} line {number} has no non-empty string field {text_field!r}", "set dataset.text_field"
        )
    if label is None:
        raise UsageError(
            "E301",
            f"{file} line {number} has no label in field {label_field!r} (a non-empty string or an integer)",
            "set dataset.label_field to the field holding the label",
        )
    return LabelledText(text=text, label=label)


def open_labelled_jsonl(path: str | None, text_field: str, label_field: str, split: str) -> StaticLabelledSet:
    """One JSON object per line with the document in `text_field` and its label in `label_field`."""
    file, text = read_text_file(path)
    examples = [
        _jsonl_example(file, number, line, text_field, label_field)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    info = CorpusInfo(provider="jsonl", split=split, source=str(file), licence="user-supplied file")
    return StaticLabelledSet(info, examples)


def _polarity_line(path: Path, number: int, line: str) -> LabelledText:
    tag, _, text = line.partition(" ")
    if not tag.startswith(_LABEL_PREFIX) or not text.strip():
        raise UsageError("E301", f"{path} line {number} is not '__label__X text'", "reinstall gensim==4.4.0")
    return LabelledText(text=text.strip(), label=tag.removeprefix(_LABEL_PREFIX))


def open_demo_polarity(split: str) -> StaticLabelledSet:
    """The 200 Pang & Lee polarity sentences (labels `neg`, `pos`) from gensim's test data, in file order."""
    path = gensim_data_dir() / POLARITY_FILE
    if not path.is_file():
        raise UsageError("E301", f"demo labelled file {path} is missing", "pip install --no-deps gensim==4.4.0")
    lines = path.read_text(encoding="cp1252").splitlines()
    examples = [_polarity_line(path, n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    info = CorpusInfo(provider="demo:polarity", split=split, source=str(path), licence=POLARITY_LICENCE)
    return StaticLabelledSet(info, examples)
