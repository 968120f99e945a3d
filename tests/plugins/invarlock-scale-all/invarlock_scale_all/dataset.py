"""`jsonl_prompt`: a JSONL file of {"prompt": ..., "completion": ...} records; each document is the prompt
followed by its completion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from invarlock.domain.errors import UsageError
from invarlock.domain.model import CorpusInfo


class _Corpus:
    def __init__(self, info: CorpusInfo, docs: tuple[str, ...]) -> None:
        self._info, self._docs = info, docs

    def info(self) -> CorpusInfo:
        return self._info

    def texts(self) -> Iterator[str]:
        return iter(self._docs)


class PromptJsonlResolver:
    """A CorpusResolver for the `jsonl_prompt` provider (`dataset.path`: the JSONL file)."""

    def open(self, provider: str, *, path: str | None, text_field: str, split: str) -> _Corpus:
        if path is None or not Path(path).is_file():
            raise UsageError("E301", f"jsonl_prompt needs dataset.path of a JSONL file, got {path!r}", "set path")
        docs = []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                docs.append(f"{record['prompt']} {record['completion']}")
        info = CorpusInfo(provider=provider, split=split, source=str(path), licence="test data")
        return _Corpus(info, tuple(docs))
