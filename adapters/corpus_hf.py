"""`provider: hf`: documents or labelled examples from a dataset read with `datasets` (corpus_hf_load.py).

The CorpusInfo records the dataset's `datasets` fingerprint and, for a hub dataset, the commit read.
"""

from __future__ import annotations

from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.examples import LabelledText

from .corpus_files import StaticCorpus
from .corpus_hf_load import PROVIDER, load_split
from .corpus_labelled import StaticLabelledSet, label_of

__all__ = ["PROVIDER", "column", "open_hf", "open_hf_labelled"]


def open_hf(
    path: str | None, text_field: str, split: str, *, name: str | None, config: str | None, revision: str | None
) -> StaticCorpus:
    """The documents of column `text_field`, in dataset order (empty strings dropped, as the jsonl provider does).

    Raises:
        UsageError: E301 as `load_split`, a missing column or a non-string value; E304 no documents.
    """
    dataset, info = load_split(path=path, name=name, config=config, split=split, revision=revision)
    docs = column(dataset, text_field, info.source, "text_field")
    for row, doc in enumerate(docs):
        if not isinstance(doc, str):
            raise UsageError(
                "E301", f"dataset {info.source} row {row}: {text_field!r} is not a string", "set dataset.text_field"
            )
    return StaticCorpus(info, [doc for doc in docs if doc.strip()])


def open_hf_labelled(
    path: str | None,
    text_field: str,
    label_field: str,
    split: str,
    *,
    name: str | None,
    config: str | None,
    revision: str | None,
) -> StaticLabelledSet:
    """Examples from columns `text_field` and `label_field`; a ClassLabel column gives its label names.

    Raises:
        UsageError: E301 as `load_split`, a missing column, an empty text or a missing label; E304 no examples.
    """
    dataset, info = load_split(path=path, name=name, config=config, split=split, revision=revision)
    texts = column(dataset, text_field, info.source, "text_field")
    labels = column(dataset, label_field, info.source, "label_field")
    names = getattr(dataset.features[label_field], "names", None)
    examples = []
    for row, (text, value) in enumerate(zip(texts, labels, strict=True)):
        label = names[value] if names is not None and isinstance(value, int) and 0 <= value < len(names) else None
        label = label if label is not None else label_of(value)
        if not isinstance(text, str) or not text.strip() or label is None:
            raise UsageError(
                "E301",
                f"dataset {info.source} row {row} lacks a text in {text_field!r} or a label in {label_field!r}",
                "set dataset.text_field and dataset.label_field",
            )
        examples.append(LabelledText(text=text, label=label))
    return StaticLabelledSet(info, examples)


def column(dataset: Any, field: str, source: str, key: str) -> list[Any]:
    """The values of column `field` (E301 naming the columns there are when it is missing, or text not UTF-8)."""
    if field not in dataset.column_names:
        raise UsageError(
            "E301",
            f"dataset {source} has no column {field!r} (columns: {', '.join(dataset.column_names)})",
            f"set dataset.{key} to the column holding it",
        )
    try:  # `datasets` decodes a column's text as it is read, not when the file is loaded
        return list(dataset[field])
    except UnicodeDecodeError as exc:
        raise UsageError(
            "E301", f"dataset {source} column {field!r} is not UTF-8 text: {exc}", "re-encode the file as UTF-8"
        ) from exc
