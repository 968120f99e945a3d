"""Turn a corpus into a token stream with the baseline tokenizer and plan the windows."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from invarlock.domain import events as ev
from invarlock.domain.arm_counts import ArmCounts
from invarlock.domain.errors import AbortError
from invarlock.domain.metrics import ACCURACY
from invarlock.domain.model import CorpusInfo
from invarlock.domain.windows import Row, dataset_digest, plan_windows
from invarlock.ports.corpus import CorpusResolver, CorpusSource, Tokenizer, TokenStreamCache

from ..config import DatasetConfig, RunConfig
from .example_planning import plan_labelled
from .token_streams import token_stream

__all__ = ["check_planned_tokenizer", "plan", "plan_stream", "plan_with", "token_stream"]


def plan(
    corpus: CorpusSource,
    tokenizer: Tokenizer,
    cfg: DatasetConfig,
    *,
    allow_fewer: bool,
    tokens: TokenStreamCache | None = None,
) -> tuple[ev.WindowsPlanned, dict[int, np.ndarray]]:
    """The WindowsPlanned event and the token rows of every planned window (the stream read from `tokens` when
    an earlier process kept it)."""
    stream = token_stream(corpus, tokenizer, tokens)
    return plan_stream(stream, cfg, corpus=corpus.info(), tokenizer_sha=tokenizer.digest(), allow_fewer=allow_fewer)


def plan_stream(
    stream: np.ndarray, cfg: DatasetConfig, *, corpus: CorpusInfo, tokenizer_sha: str, allow_fewer: bool
) -> tuple[ev.WindowsPlanned, dict[int, np.ndarray]]:
    """Plan the windows of an already tokenized stream (certify and the re-execution audit share this)."""
    digest = dataset_digest(stream, corpus.provider, corpus.split, tokenizer_sha)
    counts = ArmCounts(preview=cfg.preview_n, final=cfg.final_n, calibration=cfg.calibration_n)
    wplan, rows = plan_windows(
        stream,
        seq_len=cfg.seq_len,
        stride=cfg.effective_stride,
        counts=counts,
        seed=cfg.seed,
        dataset=digest,
        tokenizer_sha256=tokenizer_sha,
        allow_fewer=allow_fewer,
    )
    return ev.WindowsPlanned(corpus=corpus, plan=wplan), rows


def plan_with(
    tokenizer: Tokenizer,
    corpora: CorpusResolver,
    cfg: RunConfig,
    *,
    allow_fewer: bool,
    tokens: TokenStreamCache | None = None,
) -> tuple[ev.WindowsPlanned, Mapping[int, Row]]:
    """Plan with the baseline's tokenizer alone, before any weights are loaded (the preflight's windows check):
    a corpus too small for the plan (E303) or unreadable stops the run before the cost of loading the models.
    A metric that scores labelled examples (accuracy) plans the examples of a labelled set instead of stream
    windows."""
    ds = cfg.dataset
    if cfg.eval.metric.kind == ACCURACY.kind:
        labelled = corpora.open_labelled(
            ds.provider,
            path=ds.source_path,
            text_field=ds.text_field,
            label_field=ds.label_field,
            split=ds.split,
            **ds.hub,
        )
        return plan_labelled(labelled, tokenizer, ds, cfg.eval.metric, allow_fewer=allow_fewer)
    corpus = corpora.open(ds.provider, path=ds.source_path, text_field=ds.text_field, split=ds.split, **ds.hub)
    return plan(corpus, tokenizer, ds, allow_fewer=allow_fewer, tokens=tokens)


def check_planned_tokenizer(planned: ev.WindowsPlanned, baseline_tokenizer_sha256: str) -> None:
    """The tokenizer the windows were planned with must be the loaded baseline's (AbortError E002)."""
    planned_with = planned.plan.tokenizer_sha256
    if planned_with != baseline_tokenizer_sha256:
        raise AbortError(
            "E002",
            f"the windows were planned with tokenizer {planned_with[:12]}, the loaded baseline has "
            f"{baseline_tokenizer_sha256[:12]}",
            "the model directory changed while the run started; run again",
        )
