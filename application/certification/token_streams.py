"""The corpus as one token stream, tokenized at most once per process for the same text and tokenizer.

`dataset_digest` hashes the whole stream and decides the arm of every window, so the stream is always the
whole corpus; what is saved is tokenizing it again in a process that plans the same corpus twice (calibrate's
cases, the benchmarks' repeated runs, an API user certifying several subjects). The memo's key is a sha256 over
the documents' text, the tokenizer's digest and the separator, so a changed file or tokenizer is tokenized
again; the cached array is read-only. A stream above MEMO_MAX_BYTES is not kept: it would stay in memory
beside the models for the whole run (the demo corpus's is 2.6 MB)."""

from __future__ import annotations

import hashlib

import numpy as np
from invarlock.domain.errors import AbortError
from invarlock.ports.corpus import BatchTokenizer, CorpusSource, Tokenizer

BATCH_DOCS = 256  # documents per encode_batch call: bounds the ids held as Python lists at once
MEMO_MAX_BYTES = 64 * 2**20
_memo: dict[str, np.ndarray] = {}  # one entry: the last stream


def token_stream(corpus: CorpusSource, tokenizer: Tokenizer) -> np.ndarray:
    """Documents tokenized and concatenated, separated by the tokenizer's EOS/BOS when it has one."""
    texts = list(corpus.texts())
    sep = tokenizer.separator_id()
    key = _key(texts, tokenizer.digest(), sep)
    if key in _memo:
        return _memo[key]
    parts = [ids + ([sep] if sep is not None else []) for ids in _encoded(texts, tokenizer) if ids]
    if not parts:
        raise AbortError("E304", f"corpus {corpus.info().provider} produced no tokens", "point it at real text")
    stream = np.fromiter((t for p in parts for t in p), dtype=np.uint32)
    stream.flags.writeable = False
    _memo.clear()
    if stream.nbytes <= MEMO_MAX_BYTES:
        _memo[key] = stream
    return stream


def _encoded(texts: list[str], tokenizer: Tokenizer) -> list[list[int]]:
    if not isinstance(tokenizer, BatchTokenizer):
        return [tokenizer.encode(text) for text in texts]
    return [ids for i in range(0, len(texts), BATCH_DOCS) for ids in tokenizer.encode_batch(texts[i : i + BATCH_DOCS])]


def _key(texts: list[str], tokenizer_sha: str, sep: int | None) -> str:
    h = hashlib.sha256(f"{tokenizer_sha}\0{sep}\0{len(texts)}\0".encode())
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()
