"""Activation taps of the HF runners: float64 sums of tapped modules' outputs while a model scores windows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from invarlock.domain.model import ActivationStats

T = TypeVar("T")


def tapped(module: Any, weights: Sequence[str], run: Callable[[], T]) -> tuple[dict[str, ActivationStats], T]:
    """Call `run()` while a forward hook on each module owning a weight in `weights` sums its output values
    (count, Σx, Σx², float64); the hooks are removed afterwards, whatever happens."""
    modules = dict(module.named_modules())
    sums = {w: [0.0, 0.0, 0.0] for w in weights}
    handles = [modules[w.removesuffix(".weight")].register_forward_hook(_accumulator(sums[w])) for w in weights]
    try:
        result = run()
    finally:
        for handle in handles:
            handle.remove()
    return {w: ActivationStats(count=int(c), sum=s, sum_sq=q) for w, (c, s, q) in sums.items()}, result


def _accumulator(acc: list[float]) -> Callable[..., None]:
    def hook(_module: Any, _inputs: Any, output: torch.Tensor) -> None:
        values = output.detach().double()
        acc[0] += values.numel()
        acc[1] += float(values.sum())
        acc[2] += float((values * values).sum())

    return hook
