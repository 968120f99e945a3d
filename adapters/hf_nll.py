"""Per-window negative log likelihood of a causal LM's logits (the reduction every HF scoring path shares)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from invarlock.domain.errors import AbortError
from invarlock.domain.model import WindowScore
from invarlock.domain.windows import TokenWindow

from .logit_rows import row_stats
from .reduce_pool import chunk_map

ROWS = 16  # rows per reduction chunk: spread over the reduce_pool threads on CPU; 16 x vocab at a time on a GPU


def accumulation_dtype(logits_dtype: torch.dtype) -> torch.dtype:
    """The dtype of the partition-sum scratch: the logits' own when at least float32, else float32 (a bf16
    or fp16 sum over a vocabulary would round each partial sum to 8 or 11 bits)."""
    return torch.promote_types(logits_dtype, torch.float32)


def window_nll(logits: torch.Tensor, targets: torch.Tensor, window_id: int) -> float:
    """Sum over positions of -log softmax(logits)[target] in nats, as a float64 sum.

    On CPU every row goes through logit_rows (its maximum and float64 partition sum in one compiled pass, the
    same bits with or without the compiler); each position's loss m + log S − x_t is float64 and the window's
    sum is math.fsum of them (correctly rounded, whatever the order). Elsewhere (a GPU), and for float64
    logits, torch ops on the logits' device.

    Raises:
        AbortError: E402 when the sum is non-finite.
    """
    return blocks_nll(iter((logits,)), targets, window_id)


def blocks_nll(blocks: Iterator[torch.Tensor], targets: torch.Tensor, window_id: int) -> float:
    """window_nll of a window's logit rows given as consecutive row blocks (causal_rows.window_logits: each
    valid until the next is made, so each is reduced before the next is asked for): the same bits as one
    block, since every row is reduced on its own and the sum is math.fsum. Off the CPU kernel the window
    comes as one block.

    Raises:
        AbortError: E402 when the sum is non-finite.
    """
    start, parts = 0, list[tuple[np.ndarray, np.ndarray]]()
    while (block := next(blocks, None)) is not None:
        rows = kernel_rows(block)
        if rows is None:
            assert start == 0, "logits off the CPU kernel come as one block"
            return _device_window_nll(block, targets.to(block.device), window_id)
        parts.append((_row_stats(rows, block.device), target_logits(block, targets[start : start + len(rows)])))
        start += len(rows)
        del block, rows  # not held while the next block is made
    stats = np.concatenate([p[0] for p in parts]) if parts else np.empty((0, 2))
    target = np.concatenate([p[1] for p in parts]) if parts else np.empty(0)
    return finite_nll(stats[:, 0], stats[:, 1], target, window_id)


def _row_stats(rows: np.ndarray, device: torch.device) -> np.ndarray:
    size = cpu_chunk(len(rows))
    parts = chunk_map(device, lambda start: row_stats(rows[start : start + size]), range(0, len(rows), size))
    return np.concatenate(parts) if parts else np.empty((0, 2))


def cpu_chunk(rows: int) -> int:
    """Rows per chunk of a CPU reduction of `rows` logit rows over the reduce_pool threads: one near-equal chunk
    per thread, at least ROWS. The fewest dispatches with every thread busy to the end: the paired reduction of
    an 85-row block took 13.2 ms in two chunks and 16.0 ms in 16-row chunks (docs/performance.md, "Row blocks").
    Any chunking gives the same bits: every row is reduced on its own."""
    return max(ROWS, -(-rows // max(1, torch.get_num_threads())))


def kernel_rows(logits: torch.Tensor) -> np.ndarray | None:
    """CPU logits as a float32 numpy array for logit_rows (half precision widened exactly); None on another
    device, or for float64 logits (narrowing them would lose bits): those reduce in torch ops."""
    if logits.device.type != "cpu" or logits.dtype == torch.float64:
        return None
    return logits.detach().float().numpy()


def target_logits(logits: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """Each position's logit of its target token, as float64 (exact: a widening)."""
    return logits.gather(-1, targets[:, None].to(logits.device)).squeeze(-1).double().numpy()


def finite_nll(peak: np.ndarray, partition: np.ndarray, target: np.ndarray, window_id: int) -> float:
    """math.fsum over positions of peak + log(partition) − target (float64), the window's NLL sum.

    Raises:
        AbortError: E402 when a position's loss is non-finite.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        losses = peak + np.log(partition) - target
    if not np.isfinite(losses).all():  # NaN or +inf anywhere in a row reaches its partition sum
        raise non_finite_loss(window_id)
    return math.fsum(losses.tolist())


def non_finite_loss(window_id: int) -> AbortError:
    """E402 for a window whose loss (or paired measure) is not finite."""
    return AbortError(
        "E402",
        f"non-finite token loss in window {window_id}",
        "check the model's weights (the invariants guard lists non-finite tensors)",
    )


def _device_window_nll(logits: torch.Tensor, targets: torch.Tensor, window_id: int) -> float:
    """window_nll in torch ops on 16-row chunks (a non-CPU device, or float64 logits)."""
    # Shifted log-sum-exp: the max is exact and exp(x - max) <= 1, so the partition sum, accumulated in at
    # least float32 (half-precision logits are widened exactly first), is within (V + 2)·2⁻²⁴ relative of the
    # exact one; per-token losses and the window sum are float64. For float32 logits `.to` is a no-op.
    acc = accumulation_dtype(logits.dtype)
    scratch = torch.empty((ROWS, logits.shape[-1]), dtype=acc, device=logits.device)
    total = torch.zeros((), dtype=torch.float64, device=logits.device)
    for start in range(0, logits.shape[0], ROWS):
        rows = logits[start : start + ROWS]
        peak = rows.amax(dim=-1, keepdim=True)
        shifted = torch.sub(rows.to(acc), peak.to(acc), out=scratch[: rows.shape[0]]).exp_()
        target = rows.gather(-1, targets[start : start + ROWS, None]).squeeze(-1).double()
        total += (peak.squeeze(-1).double() + torch.log(shifted.sum(dim=-1).double()) - target).sum()
    if not bool(torch.isfinite(total)):  # NaN or +inf anywhere in the logits reaches the loss
        raise non_finite_loss(window_id)
    return float(total)


def window_scores(batch: Sequence[TokenWindow], ids: torch.Tensor, logits: torch.Tensor) -> list[WindowScore]:
    """One WindowScore per window of a batch from its ids and the model's logits of them.

    Raises:
        AbortError: E402 when a window's loss is non-finite.
    """
    return [window_score(w, ids[i], logits[i, :-1]) for i, w in enumerate(batch)]


def window_score(window: TokenWindow, ids: torch.Tensor, logits: torch.Tensor) -> WindowScore:
    """The WindowScore of one window from its ids (positions,) and its logits of positions 0..L-2.

    Raises:
        AbortError: E402 when the window's loss is non-finite.
    """
    return blocks_score(window, ids, iter((logits,)))


def blocks_score(window: TokenWindow, ids: torch.Tensor, blocks: Iterator[torch.Tensor]) -> WindowScore:
    """window_score of a window's logits given as consecutive row blocks (blocks_nll).

    Raises:
        AbortError: E402 when the window's loss is non-finite.
    """
    nll = blocks_nll(blocks, ids[1:], window.window_id)
    return WindowScore(window_id=window.window_id, tokens_scored=len(window.tokens) - 1, nll_sum=nll)
