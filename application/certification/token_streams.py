"""The corpus as one token stream, tokenized at most once per process for the same text and tokenizer, and at
most once per machine when a TokenStreamCache is given and the tokenizer names its implementation.

`dataset_digest` hashes the whole stream and decides the arm of every window, so the stream is always the
whole corpus; what is saved is tokenizing it again: in a process that plans the same corpus twice (calibrate's
cases, the benchmarks' repeated runs, an API user certifying several subjects), and across processes (every
certification of a new subject against one baseline tokenizes the same corpus with the same tokenizer).
The key is a sha256 over the stream layout, the documents' text, the tokenizer's digest and implementation
(StableTokenizer) and the separator, so a changed file, tokenizer or tokenizer library is tokenized again; the
stream is read-only. A stream above MEMO_MAX_BYTES is not kept in memory: it would stay beside the models for the
whole run (the demo corpus's is 2.6 MB)."""

from __future__ import annotations

import hashlib

import numpy as np
from invarlock.domain.errors import AbortError, UsageError
from invarlock.ports.corpus import BatchTokenizer, CorpusSource, StableTokenizer, Tokenizer, TokenStreamCache

BATCH_DOCS = 256  # documents per encode_batch call: bounds the ids held as Python lists at once
MEMO_MAX_BYTES = 64 * 2**20
# How documents and separators make one stream; a change here must change this, so kept streams are not reused.
STREAM_LAYOUT = "documents, each followed by the separator, empty documents skipped; uint32"
_memo: dict[str, np.ndarray] = {}  # one entry: the last stream


def token_stream(corpus: CorpusSource, tokenizer: Tokenizer, cache: TokenStreamCache | None = None) -> np.ndarray:
    """Documents tokenized and concatenated, separated by the tokenizer's EOS/BOS when it has one. With `cache`,
    a stream kept by an earlier process under the same key is read instead of tokenizing (never for a tokenizer
    that does not name its implementation)."""
    texts = list(corpus.texts())
    sep = tokenizer.separator_id()
    implementation = tokenizer.implementation() if isinstance(tokenizer, StableTokenizer) else None
    key = _key(texts, tokenizer.digest(), sep, implementation)
    if key in _memo:
        return _memo[key]
    shared = cache if implementation is not None else None
    kept = shared.load(key) if shared is not None else None
    stream = kept if kept is not None else _tokenized(corpus, texts, tokenizer, sep)
    stream.flags.writeable = False
    if shared is not None and kept is None:
        shared.save(key, stream)
    _memo.clear()
    if stream.nbytes <= MEMO_MAX_BYTES:
        _memo[key] = stream
    return stream


def _tokenized(corpus: CorpusSource, texts: list[str], tokenizer: Tokenizer, sep: int | None) -> np.ndarray:
    parts = [ids + ([sep] if sep is not None else []) for ids in _encoded(texts, tokenizer) if ids]
    if not parts:
        _refuse_no_tokens(corpus, texts, tokenizer)
    return np.fromiter((t for p in parts for t in p), dtype=np.uint32)


def _refuse_no_tokens(corpus: CorpusSource, texts: list[str], tokenizer: Tokenizer) -> None:
    """Blank documents are the corpus's fault (E304); text the tokenizer maps to nothing is the model's (E102)."""
    provider = corpus.info().provider
    written = [t for t in texts if t.strip()]
    if not written:
        raise AbortError("E304", f"corpus {provider} produced no tokens", "point it at real text")
    raise UsageError(
        "E102",
        f"the tokenizer {tokenizer.digest()[:12]} maps all {len(written)} non-blank documents of corpus {provider} "
        f"({sum(len(t) for t in written)} characters) to no tokens",
        "check the model's tokenizer files (tokenizer.json, tokenizer_config.json)",
    )


def _encoded(texts: list[str], tokenizer: Tokenizer) -> list[list[int]]:
    if not isinstance(tokenizer, BatchTokenizer):
        return [tokenizer.encode(text) for text in texts]
    return [ids for i in range(0, len(texts), BATCH_DOCS) for ids in tokenizer.encode_batch(texts[i : i + BATCH_DOCS])]


def _key(texts: list[str], tokenizer_sha: str, sep: int | None, implementation: str | None) -> str:
    h = hashlib.sha256(f"{STREAM_LAYOUT}\0{implementation}\0{tokenizer_sha}\0{sep}\0{len(texts)}\0".encode())
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()
