"""Zero-shot classification with a causal LM: each label's continuation scored after the example's prompt.

The prediction is the label whose continuation has the largest summed log-likelihood (the smallest NLL sum),
the lowest label index on a tie. Baseline and subject score every batch one after the other (lockstep).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from invarlock.domain.errors import UsageError
from invarlock.domain.model import PairedScore, WindowComparison
from invarlock.domain.windows import TokenWindow

from .hf_nll import window_nll

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (ids, attention mask) -> logits
_PAD = 0  # any id: padded positions are masked and never read


_Seq = tuple[int, tuple[int, ...], tuple[int, ...]]  # (window index, label indices, fed ids)


def _sequences(windows: Sequence[TokenWindow]) -> list[_Seq]:
    """What to feed: the prompt once when every continuation is one token (all labels read at its last
    position), else the prompt plus each continuation."""
    out: list[_Seq] = []
    for i, w in enumerate(windows):
        if not w.candidates or w.label is None:
            raise UsageError(
                "E201", f"example {w.window_id} has no label words to score", "set eval.metric.label_words"
            )
        if all(len(c) == 1 for c in w.candidates):
            out.append((i, tuple(range(len(w.candidates))), w.tokens))
        else:
            out.extend((i, (k,), w.tokens + cand) for k, cand in enumerate(w.candidates))
    return out


def _padded(batch: list[_Seq]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(seq) for _, _, seq in batch)
    ids = torch.full((len(batch), longest), _PAD, dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, (_, _, seq) in enumerate(batch):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def continuation_nll(forward: Forward, windows: Sequence[TokenWindow], batch_size: int) -> np.ndarray:
    """(examples, labels) float64 NLL sums in nats of each label's continuation ids after the prompt.

    Sequences are right-padded with a mask, so a real token sees exactly the tokens before it.
    Raises AbortError E402 for a non-finite loss, UsageError E201 for a window without candidates.
    """
    seqs = _sequences(windows)
    labels = max(len(w.candidates or ()) for w in windows)
    out = np.full((len(windows), labels), np.inf)
    for start in range(0, len(seqs), batch_size):
        batch = seqs[start : start + batch_size]
        ids, mask = _padded(batch)
        with torch.inference_mode():
            logits = forward(ids, mask)
        for row, (i, ks, _) in enumerate(batch):
            w = windows[i]
            for k in ks:
                cand = (w.candidates or ())[k]
                start = len(w.tokens) - 1
                target = torch.tensor(cand, dtype=torch.long, device=logits.device)
                out[i, k] = window_nll(logits[row, start : start + len(cand)], target, w.window_id)
    return out


def predictions(nll: np.ndarray) -> list[int]:
    """The label of smallest continuation NLL per example (np.argmin: the lowest index on a tie)."""
    return [int(k) for k in np.argmin(nll, axis=1)]


def zero_shot_pairs(
    baseline: Forward, subject: Forward, windows: Sequence[TokenWindow], batch_size: int
) -> Iterator[PairedScore]:
    """One PairedScore per example: no per-model NLL, the comparison holds the gold label and both predictions."""
    mine = predictions(continuation_nll(baseline, windows, batch_size))
    others = predictions(continuation_nll(subject, windows, batch_size))
    for w, b, s in zip(windows, mine, others, strict=True):
        comparison = WindowComparison(
            window_id=w.window_id, positions=1, label=w.label, baseline_pred=b, subject_pred=s
        )
        yield PairedScore(window_id=w.window_id, baseline=None, subject=None, comparison=comparison)
