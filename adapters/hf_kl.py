"""Paired per-token measures of two causal LMs' logits on one window: KL(baseline ‖ subject), top-1 and
top-5 agreement (the secondary metrics), reduced while both logit tensors are in memory."""

from __future__ import annotations

import numpy as np
import torch
from invarlock.domain.metrics.kl_bins import BINS, EDGES
from invarlock.domain.model import WindowComparison

from .reduce_pool import chunk_map, scratch

_KL_ROWS = 16  # rows of float64 vocabulary-wide scratch at a time: 16 x 49 152 x 8 B = 6 MB per tensor
_TOP = 5
_BLOCK = 64


def _exp_(values: torch.Tensor) -> torch.Tensor:
    """exp in place; on CPU through numpy, whose float64 exp is about 3x faster than torch 2.13's."""
    if values.device.type == "cpu":
        array = values.numpy()
        np.exp(array, out=array)
        return values
    return values.exp_()


def _rows_kl(base: torch.Tensor, subj: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
    """Per-row KL(p_b ‖ p_s) of logit rows in float64 with one exp per logit, in three preallocated float64
    scratch rows (new vocabulary-wide tensors per chunk cost page faults):
    Σ_v p_b (x_b − x_s) − (lse_b − lse_s), p_b = exp(x_b − m_b) / S_b, lse = m + log S."""
    n = base.shape[0]
    exp_b, exp_s, diff = scratch[0, :n].copy_(base), scratch[1, :n].copy_(subj), scratch[2, :n]
    torch.sub(exp_b, exp_s, out=diff)
    peak_b, peak_s = exp_b.amax(dim=-1, keepdim=True), exp_s.amax(dim=-1, keepdim=True)
    _exp_(exp_b.sub_(peak_b))
    _exp_(exp_s.sub_(peak_s))
    sum_b, sum_s = exp_b.sum(dim=-1), exp_s.sum(dim=-1)
    shift = (peak_b - peak_s).squeeze(-1) + sum_b.log() - sum_s.log()
    return diff.mul_(exp_b).sum(dim=-1) / sum_b - shift


def _top(logits: torch.Tensor) -> torch.Tensor:
    """Indices of each row's _TOP largest logits, largest first (as torch.topk). When the vocabulary splits
    into blocks of _BLOCK, only the _TOP blocks with the largest maxima can hold them: a block max pass and a
    topk over _TOP blocks instead of a topk over the whole row (3.5x faster on CPU)."""
    rows, vocab = logits.shape
    if vocab % _BLOCK:
        return logits.topk(_TOP, dim=-1).indices
    blocks = logits.view(rows, vocab // _BLOCK, _BLOCK)
    best = blocks.amax(dim=-1).topk(_TOP, dim=-1).indices
    candidates = blocks.gather(1, best[:, :, None].expand(rows, _TOP, _BLOCK)).reshape(rows, _TOP * _BLOCK)
    at = candidates.topk(_TOP, dim=-1).indices
    return best.gather(1, at // _BLOCK) * _BLOCK + at % _BLOCK


def window_comparison(window_id: int, base: torch.Tensor, subj: torch.Tensor) -> WindowComparison:
    """The measures over the (positions, vocab) logits of one window under both models, float64 throughout:
    kl_sum, kl_max and the per-token KL histogram over kl_bins.EDGES, top-1 agreements (the first of each
    model's torch.topk equal) and top-5 overlap (Σ_t |top5_b ∩ top5_s|). Row chunks are reduced in parallel
    on CPU (reduce_pool: same bits as one thread)."""
    edges = torch.tensor(EDGES, dtype=torch.float64, device=base.device)

    def chunk(start: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = slice(start, start + _KL_ROWS)
        buffers = scratch("kl", (3, _KL_ROWS, base.shape[-1]), torch.float64, base.device)
        return _rows_kl(base[rows], subj[rows], buffers), _top(base[rows]), _top(subj[rows])

    parts = chunk_map(base.device, chunk, range(0, base.shape[0], _KL_ROWS))
    kl, top_b, top_s = (torch.cat([part[k] for part in parts]) for k in range(3))
    bins = torch.bucketize(kl, edges, right=True)
    overlap = (top_b[:, :, None] == top_s[:, None, :]).any(dim=-1).sum()
    agree = (top_b[:, 0] == top_s[:, 0]).sum()
    return WindowComparison(
        window_id=window_id,
        positions=int(base.shape[0]),
        kl_sum=float(kl.sum()),
        kl_max=float(kl.max()),
        kl_histogram=tuple(int(c) for c in torch.bincount(bins, minlength=BINS).tolist()),
        top1_agree=int(agree),
        top5_overlap=int(overlap),
    )
