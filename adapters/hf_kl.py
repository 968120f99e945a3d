"""Paired per-token measures of two causal LMs' logits on one window: KL(baseline ‖ subject), top-1 and
top-5 agreement (the secondary metrics), reduced while both logit tensors are in memory, with both models'
NLL sums from the same pass on CPU (logit_rows)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from invarlock.domain.metrics.kl_bins import BINS, EDGES
from invarlock.domain.model import PairedScore, WindowComparison, WindowScore
from invarlock.domain.windows import TokenWindow

from .hf_nll import ROWS, cpu_chunk, finite_nll, kernel_rows, non_finite_loss, target_logits, window_score
from .logit_rows import pair_kl, pair_stats_top
from .reduce_pool import chunk_map, scratch

_TOP = 5
_BLOCK = 64
_EDGES = np.asarray(EDGES)
LogitPair = tuple[torch.Tensor, torch.Tensor]


def _rows_kl(base: torch.Tensor, subj: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
    """Per-row KL(p_b ‖ p_s) of logit rows in float64 with one exp per logit, in three preallocated float64
    scratch rows (new vocabulary-wide tensors per chunk cost page faults):
    Σ_v p_b (x_b − x_s) − (lse_b − lse_s), p_b = exp(x_b − m_b) / S_b, lse = m + log S."""
    n = base.shape[0]
    exp_b, exp_s, diff = scratch[0, :n].copy_(base), scratch[1, :n].copy_(subj), scratch[2, :n]
    torch.sub(exp_b, exp_s, out=diff)
    peak_b, peak_s = exp_b.amax(dim=-1, keepdim=True), exp_s.amax(dim=-1, keepdim=True)
    exp_b.sub_(peak_b).exp_()
    exp_s.sub_(peak_s).exp_()
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


def _exact_top(logits: torch.Tensor, found: np.ndarray) -> torch.Tensor:
    """torch.topk's top-5 indices of each row: the kernel's (pair_stats_top) where it found them, which is
    where a row's six largest logits are distinct and so every exact top-5 agrees; _top's for the rows left
    at -1 (a tie there: torch's order)."""
    top = torch.from_numpy(np.ascontiguousarray(found))
    tied = np.flatnonzero(found[:, 0] < 0)
    if tied.size:
        rows = torch.from_numpy(tied)
        top[rows] = _top(logits[rows])
    return top


def paired_score(window: TokenWindow, ids: torch.Tensor, base: torch.Tensor, subj: torch.Tensor) -> PairedScore:
    """Both models' WindowScore and the paired measures of one window from its ids (positions + 1,) and both
    models' logits of positions 0..L-2 (on one device). On CPU one logit_rows pass per row pair gives both NLL
    sums (the same bits as hf_nll.window_nll of each alone), the float64 KL and both rows' top-5 (_exact_top),
    with the row chunks spread over the reduce_pool threads; elsewhere torch ops (window_comparison).

    Raises:
        AbortError: E402 when a loss or a KL is non-finite.
    """
    return blocks_paired_score(window, ids, iter(((base, subj),)))


def blocks_paired_score(window: TokenWindow, ids: torch.Tensor, blocks: Iterator[LogitPair]) -> PairedScore:
    """paired_score of a window's logits given as consecutive row blocks of both models (causal_rows: each
    pair valid until the next is made, so each is reduced before the next is asked for), the subject's moved
    to the baseline's device: the same bits as one block, since every row pair is reduced on its own and the
    sums are math.fsum. Off the CPU kernel the window comes as one block.

    Raises:
        AbortError: E402 when a loss or a KL is non-finite.
    """
    targets, start, parts = ids[1:], 0, list[_Reduced]()
    while (pair := next(blocks, None)) is not None:
        base, subj = pair[0], pair[1].to(pair[0].device)
        base_np, subj_np = kernel_rows(base), kernel_rows(subj)
        if base_np is None or subj_np is None:
            assert start == 0, "logits off the CPU kernel come as one block"
            return _device_paired_score(window, ids, base, subj)
        parts.append(_reduced(base, subj, base_np, subj_np, targets[start : start + len(base_np)]))
        start += len(base_np)
        del pair, base, subj, base_np, subj_np  # not held while the next block is made
    return _paired(window, parts)


_Reduced = tuple[np.ndarray, torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]


def _reduced(
    base: torch.Tensor, subj: torch.Tensor, b_rows: np.ndarray, s_rows: np.ndarray, targets: torch.Tensor
) -> _Reduced:
    """One block's row statistics (pair_stats_top), both models' top-5 and target logits."""

    size = cpu_chunk(base.shape[0])

    def chunk(start: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        rows = slice(start, start + size)
        stats, top = pair_stats_top(b_rows[rows], s_rows[rows])
        return stats, _exact_top(base[rows], top[:, 0]), _exact_top(subj[rows], top[:, 1])

    parts = chunk_map(base.device, chunk, range(0, base.shape[0], size))
    stats = np.concatenate([part[0] for part in parts]) if parts else np.empty((0, 5))
    top_b, top_s = (
        torch.cat([part[k] for part in parts]) if parts else torch.empty((0, _TOP), dtype=torch.long) for k in (1, 2)
    )
    return stats, top_b, top_s, target_logits(base, targets), target_logits(subj, targets)


def _paired(window: TokenWindow, parts: list[_Reduced]) -> PairedScore:
    stats = np.concatenate([part[0] for part in parts])
    nll_b = finite_nll(stats[:, 0], stats[:, 1], np.concatenate([part[3] for part in parts]), window.window_id)
    nll_s = finite_nll(stats[:, 2], stats[:, 3], np.concatenate([part[4] for part in parts]), window.window_id)
    kl = pair_kl(stats)
    if not np.isfinite(kl).all():
        raise non_finite_loss(window.window_id)
    top_b, top_s = torch.cat([part[1] for part in parts]), torch.cat([part[2] for part in parts])
    scored = len(window.tokens) - 1
    return PairedScore(
        window_id=window.window_id,
        baseline=WindowScore(window_id=window.window_id, tokens_scored=scored, nll_sum=nll_b),
        subject=WindowScore(window_id=window.window_id, tokens_scored=scored, nll_sum=nll_s),
        comparison=_comparison(window.window_id, kl, top_b, top_s),
    )


def _device_paired_score(window: TokenWindow, ids: torch.Tensor, base: torch.Tensor, subj: torch.Tensor) -> PairedScore:
    return PairedScore(
        window_id=window.window_id,
        baseline=window_score(window, ids, base),
        subject=window_score(window, ids, subj),
        comparison=window_comparison(window.window_id, base, subj),
    )


def _comparison(window_id: int, kl: np.ndarray, top_b: torch.Tensor, top_s: torch.Tensor) -> WindowComparison:
    """The WindowComparison of per-position float64 KLs and both models' top-5 indices: kl_sum by math.fsum."""
    bins = np.searchsorted(_EDGES, kl, side="right")
    overlap = (top_b[:, :, None] == top_s[:, None, :]).any(dim=-1).sum()
    return WindowComparison(
        window_id=window_id,
        positions=len(kl),
        kl_sum=math.fsum(kl.tolist()),
        kl_max=float(kl.max()),
        kl_histogram=tuple(int(c) for c in np.bincount(bins, minlength=BINS).tolist()),
        top1_agree=int((top_b[:, 0] == top_s[:, 0]).sum()),
        top5_overlap=int(overlap),
    )


def window_comparison(window_id: int, base: torch.Tensor, subj: torch.Tensor) -> WindowComparison:
    """Off the CPU kernel (a GPU, float64 logits), the measures over the (positions, vocab) logits of one window
    under both models, in torch ops on the device, float64 throughout (_rows_kl), then summarised on the host
    as on CPU (_comparison).

    Raises:
        AbortError: E402 when a KL is non-finite.
    """

    def chunk(start: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = slice(start, start + ROWS)
        buffers = scratch("kl", (3, ROWS, base.shape[-1]), torch.float64, base.device)
        return _rows_kl(base[rows], subj[rows], buffers), _top(base[rows]), _top(subj[rows])

    parts = chunk_map(base.device, chunk, range(0, base.shape[0], ROWS))
    kl = torch.cat([part[0] for part in parts]).cpu().numpy()
    if not np.isfinite(kl).all():
        raise non_finite_loss(window_id)
    top_b, top_s = (torch.cat([part[k] for part in parts]).cpu() for k in (1, 2))
    return _comparison(window_id, kl, top_b, top_s)
