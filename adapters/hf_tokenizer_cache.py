"""A checkpoint's tokenizer, read once per process while its files stay as they were (HFModelLoader's `tokenizer` and
`load` both take it from here)."""

from __future__ import annotations

import json
from pathlib import Path

from invarlock.domain.errors import UsageError

from . import hf_demo
from .hf_load_checks import as_usage_error
from .hf_tokenizer import HFTokenizer, refuse_empty
from .node_kind import odd_node

TOKENIZERS_KEPT = 8  # checkpoints whose tokenizer a process keeps (calibrate loads several; each holds ~12 MiB)
_TOKENIZERS: dict[tuple[str, tuple[tuple[str, int, int], ...]], HFTokenizer] = {}


def tokenizer_of(path: Path) -> HFTokenizer:
    """The tokenizer of a checkpoint directory, read once per process while its files stay as they were (same
    names, sizes and modification times): a certification asks for it up to four times (the preflight's
    check of each model, then each model's load), each read about 0.5-0.9 s on the demo's. The same object
    is returned, hence the digest it took as loaded."""
    with as_usage_error(path):  # an unreadable directory or file: the same E102 as transformers' own failures
        key = (str(path.resolve()), _tokenizer_files(path))
    if key not in _TOKENIZERS:
        from transformers import AutoTokenizer

        _require_tokenizer_files(path, key[1])
        with as_usage_error(path), hf_demo.quiet_transformers():
            try:
                loaded = HFTokenizer(AutoTokenizer.from_pretrained(path, local_files_only=True))
            except json.JSONDecodeError as error:  # its message named the folder alone
                raise _damaged_json(path, error) or error from None
        refuse_empty(loaded, path)
        if len(_TOKENIZERS) >= TOKENIZERS_KEPT:
            _TOKENIZERS.pop(next(iter(_TOKENIZERS)))
        _TOKENIZERS[key] = loaded
    return _TOKENIZERS[key]


# A tokenizer's vocabulary lives in one of these (fast, SentencePiece, WordPiece, BPE): without any, transformers
# fails with a multi-line message whose first line ends mid-sentence.
_VOCABULARY_FILES = (
    "tokenizer.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.txt", "vocab.json"
)  # fmt: skip


def _require_tokenizer_files(path: Path, files: tuple[tuple[str, int, int], ...]) -> None:
    if not any(name in _VOCABULARY_FILES for name, _, _ in files):
        raise UsageError(
            "E102",
            f"{path} has no tokenizer files (none of {', '.join(_VOCABULARY_FILES)})",
            "copy the tokenizer files of the model it was made from (tokenizer.json, tokenizer_config.json) into it",
        )


def _tokenizer_files(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime_ns) of every file of the directory but the weights, which the tokenizer never reads; E102
    naming an entry that is neither a file nor a folder, or a folder or a link to nothing under a tokenizer file's
    name (a FIFO blocked transformers' read for ever; a link to /dev/zero never ends; a FIFO or dangling
    tokenizer.json was reported as no tokenizer files, a dangling tokenizer_config.json was silently left out)."""
    found = []
    for entry in sorted(path.iterdir()):
        if _is_weights(entry.name):  # hf_weight_files checks them
            continue
        kind = odd_node(entry)
        if kind is None:
            st = entry.stat()
            found.append((entry.name, st.st_size, st.st_mtime_ns))
        elif kind != "a directory" or entry.name in _TOKENIZER_NAMES:
            hint = f"put the checkpoint's {entry.name} file there, or remove it"
            raise UsageError("E102", f"{entry} is {kind}", hint)
    return tuple(found)


def _is_weights(name: str) -> bool:
    return name.endswith((".safetensors", ".bin", ".pt", ".gguf"))


_JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json")
_TOKENIZER_NAMES = frozenset((*_VOCABULARY_FILES, *_JSON_FILES, "merges.txt", "chat_template.jinja"))


def _damaged_json(path: Path, error: json.JSONDecodeError) -> UsageError | None:
    """E102 naming the tokenizer file whose text transformers could not decode as JSON: the file holding the text
    the decoder read, so a load never blames a file it did not read (None when no file holds it)."""
    for name in _JSON_FILES:
        try:
            text = (path / name).read_text(encoding="utf-8")
        except (OSError, ValueError):
            continue
        if text == error.doc:
            said = f"JSONDecodeError: {error.msg}: line {error.lineno} column {error.colno}"
            return UsageError("E102", f"{path / name} is not valid JSON ({said})", "copy the tokenizer files again")
    return None
