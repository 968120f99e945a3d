"""Lockstep scoring of two causal LMs whatever runs them (torch or onnxruntime): each batch of ids goes to
both models, then their logits are reduced together (per-model NLL sums, KL and top-k agreement), one window
at a time when the runners split their LM heads off (causal_rows)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from invarlock.domain.errors import UsageError
from invarlock.domain.model import PairedScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import Progress

from .causal_rows import CausalLogits, window_logit_pairs
from .hf_kl import blocks_paired_score
from .window_batches import batches, token_ids

__all__ = ["CausalLogits", "lockstep_pairs", "require_causal"]


def require_causal(other: object, mine: str) -> CausalLogits:
    """`other` as a causal-logits runner; UsageError E104 for any other runner."""
    if not isinstance(other, CausalLogits):
        raise UsageError(
            "E104",
            f"lockstep scoring needs two causal LMs ({mine}, onnx), got {type(other).__name__}",
            "load both models with causal LM adapters",
        )
    return other


def lockstep_pairs(
    mine: CausalLogits,
    other: CausalLogits,
    windows: Sequence[TokenWindow],
    batch_size: int,
    progress: Progress | None,
) -> Iterator[PairedScore]:
    """Per batch (a partial one padded to `batch_size` windows: window_batches.token_ids): both models' forward passes,
    then per window both models' logits of it, its scores under both and the paired measures (computed on
    `mine`'s device: the other's logits are moved there)."""
    for batch in batches(windows, batch_size):
        ids = token_ids(batch, torch.device("cpu"), rows=batch_size)
        with torch.inference_mode():
            pairs = _batch_pairs(mine, other, batch, ids)
        yield from pairs
        if progress is not None:
            progress(len(batch))


def _batch_pairs(
    mine: CausalLogits, other: CausalLogits, batch: list[TokenWindow], ids: torch.Tensor
) -> list[PairedScore]:
    """The batch's pairs, one row block of each model's logits alive at a time: each window's blocks are passed
    straight to blocks_paired_score, which reduces each block before the next is made (loop variables bound to
    a window's blocks would keep them alive while the next are computed: twice the vocabulary-wide memory)."""
    rows = window_logit_pairs(mine, other, ids, len(batch))
    return [blocks_paired_score(w, ids[i], next(rows)) for i, w in enumerate(batch)]
