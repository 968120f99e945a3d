"""Turn a corpus into a token stream with the baseline tokenizer and plan the windows."""

from __future__ import annotations

import numpy as np
from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError
from invarlock.domain.windows import ArmCounts, WindowPlan, dataset_digest, plan_windows
from invarlock.ports.corpus import CorpusResolver, CorpusSource, Tokenizer
from invarlock.ports.model import ModelLoader

from .config import DatasetConfig, ModelConfig


def token_stream(corpus: CorpusSource, tokenizer: Tokenizer) -> np.ndarray:
    """Documents tokenized and concatenated, separated by the tokenizer's EOS/BOS when it has one."""
    sep = tokenizer.separator_id()
    parts: list[list[int]] = []
    for text in corpus.texts():
        ids = tokenizer.encode(text)
        if ids:
            parts.append(ids + ([sep] if sep is not None else []))
    if not parts:
        raise AbortError("E304", f"corpus {corpus.info().provider} produced no tokens", "point it at real text")
    return np.fromiter((t for p in parts for t in p), dtype=np.uint32)


def plan(
    corpus: CorpusSource, tokenizer: Tokenizer, cfg: DatasetConfig, *, allow_fewer: bool
) -> tuple[ev.WindowsPlanned, dict[int, np.ndarray]]:
    """The WindowsPlanned event and the token rows of every planned window."""
    info = corpus.info()
    stream = token_stream(corpus, tokenizer)
    return plan_stream(
        stream,
        cfg,
        provider=info.provider,
        split=info.split,
        source=info.source,
        licence=info.licence,
        tokenizer_sha=tokenizer.digest(),
        allow_fewer=allow_fewer,
    )


def plan_stream(
    stream: np.ndarray,
    cfg: DatasetConfig,
    *,
    provider: str,
    split: str,
    source: str,
    licence: str,
    tokenizer_sha: str,
    allow_fewer: bool,
) -> tuple[ev.WindowsPlanned, dict[int, np.ndarray]]:
    """Plan the windows of an already tokenized stream (certify and the re-execution audit share this)."""
    digest = dataset_digest(stream, provider, split, tokenizer_sha)
    counts = ArmCounts(preview=cfg.preview_n, final=cfg.final_n, calibration=cfg.calibration_n)
    wplan, rows = plan_windows(
        stream,
        seq_len=cfg.seq_len,
        stride=cfg.effective_stride,
        counts=counts,
        seed=cfg.seed,
        dataset=digest,
        allow_fewer=allow_fewer,
    )
    return planned_event(wplan, provider, split, source, licence, tokenizer_sha, len(stream)), rows


def planned_event(
    wplan: WindowPlan, provider: str, split: str, source: str, licence: str, tokenizer_sha: str, n_tokens: int
) -> ev.WindowsPlanned:
    return ev.WindowsPlanned(
        provider=provider,
        split=split,
        source=source,
        licence=licence,
        seq_len=wplan.seq_len,
        stride=wplan.stride,
        tokenizer_sha256=tokenizer_sha,
        dataset_digest=wplan.dataset_digest,
        plan_digest=wplan.plan_digest,
        window_ids=[w.window_id for w in wplan.windows],
        window_digests=[w.digest for w in wplan.windows],
        arms=[w.arm for w in wplan.windows],
        windows_available=wplan.windows_available,
        duplicates_dropped=wplan.duplicates_dropped,
        stream_tokens=n_tokens,
        approximate_counts=wplan.approximate_counts,
    )


def plan_before_loading(
    loader: ModelLoader, corpora: CorpusResolver, baseline: ModelConfig, ds: DatasetConfig, *, allow_fewer: bool
) -> tuple[ev.WindowsPlanned, dict[int, np.ndarray]]:
    """Plan with the baseline's tokenizer alone, before any weights are loaded: a corpus too small for the
    plan (E303) or unreadable stops the run before the cost of loading the models."""
    corpus = corpora.open(ds.provider, path=ds.source_path, text_field=ds.text_field, split=ds.split)
    return plan(corpus, loader.tokenizer(baseline.id, adapter=baseline.adapter), ds, allow_fewer=allow_fewer)


def check_planned_tokenizer(planned: ev.WindowsPlanned, baseline_tokenizer_sha256: str) -> None:
    """The tokenizer the windows were planned with must be the loaded baseline's (AbortError E002)."""
    if planned.tokenizer_sha256 != baseline_tokenizer_sha256:
        raise AbortError(
            "E002",
            f"the windows were planned with tokenizer {planned.tokenizer_sha256[:12]}, the loaded baseline has "
            f"{baseline_tokenizer_sha256[:12]}",
            "the model directory changed while the run started; run again",
        )
