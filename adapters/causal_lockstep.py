"""Lockstep scoring of two causal LMs whatever runs them (torch or onnxruntime): each batch of ids goes to
both models, then their logits are reduced together (per-model NLL sums, KL and top-k agreement)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import torch
from invarlock.domain.errors import UsageError
from invarlock.domain.model import PairedScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import Progress

from .hf_kl import window_comparison
from .hf_nll import batches, window_scores


@runtime_checkable
class CausalLogits(Protocol):
    """A causal LM runner that gives the float logits (batch, positions, vocab) of a (batch, positions) id
    tensor, as a torch tensor (on the runner's device), with no BOS added and no cache."""

    def causal_logits(self, ids: torch.Tensor) -> torch.Tensor: ...


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
    """Per batch: both models' logits, then each window's scores under both and the paired measures
    (computed on `mine`'s device: the other's logits are moved there)."""
    for batch in batches(windows, batch_size):
        ids = torch.tensor([w.tokens for w in batch], dtype=torch.long)
        with torch.inference_mode():
            base = mine.causal_logits(ids)
            subj = other.causal_logits(ids).to(base.device)
            pairs = [
                PairedScore(
                    window_id=b.window_id,
                    baseline=b,
                    subject=s,
                    comparison=window_comparison(b.window_id, base[i, :-1], subj[i, :-1]),
                )
                for i, (b, s) in enumerate(
                    zip(window_scores(batch, ids, base), window_scores(batch, ids, subj), strict=True)
                )
            ]
        yield from pairs
        if progress is not None:
            progress(len(batch))
