"""A second forward floor for benchmarks/certify_overhead.py `--reused-logits`: the same passes with the output head
writing its logits into one buffer kept from pass to pass.

Why: the plain floor, `module(input_ids).logits`, makes a new whole-batch logits tensor every pass (403 MB for 8
windows of 256 tokens at the demo's vocabulary), above glibc's largest mmap threshold, so every pass maps it afresh
and faults in each page (about 98 k minor faults a pass, 3–4 % of the floor on the 2-core Intel Xeon:
docs/performance.md, the floor's page faults); certify's row-block head makes no such tensor. The head here is the
same matrix product (`torch.matmul(hidden, weight.T, out=buffer)` for a plain `nn.Linear` without bias, the demo's);
any other head is refused. Each batch runs both ways in turn, the plain pass first, so a drift of the machine's speed
falls on both.
"""

from __future__ import annotations

import resource
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any


@contextmanager
def reused_logits(model: Any, buffers: dict[tuple[int, ...], Any]) -> Iterator[None]:
    """For the duration, `model`'s output head writes into `buffers`' tensor of its output shape (made once, kept
    by the caller from pass to pass)."""
    import torch

    head = model.module.get_output_embeddings()
    if type(head) is not torch.nn.Linear or head.bias is not None:
        raise SystemExit(f"--reused-logits needs a plain nn.Linear output head without bias, not {type(head).__name__}")

    def forward(hidden: Any) -> Any:
        shape = (*hidden.shape[:-1], head.out_features)
        if shape not in buffers:
            buffers[shape] = torch.empty(shape, dtype=hidden.dtype, device=hidden.device)
        return torch.matmul(hidden, head.weight.t(), out=buffers[shape])

    head.forward = forward
    try:
        yield
    finally:
        del head.forward


def alternating(
    models: dict[str, Any], batches: list[tuple[str, Any]], timed_pass: Callable[[Any, Any], float]
) -> tuple[dict[str, float], dict[str, float], tuple[int, int]]:
    """Per role, the seconds of the plain passes and of the same passes with reused logits, each batch both ways in
    turn; and the minor page faults of each way."""
    import torch

    plain: dict[str, float] = defaultdict(float)
    reused: dict[str, float] = defaultdict(float)
    faults = [0, 0]
    buffers: dict[str, dict[tuple[int, ...], Any]] = defaultdict(dict)  # per role: its logits, made at its first pass
    with torch.inference_mode():
        for role, ids in batches:
            for way, spent in enumerate((plain, reused)):
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                with reused_logits(models[role], buffers[role]) if way else nullcontext():
                    spent[role] += timed_pass(models[role], ids)
                faults[way] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return dict(plain), dict(reused), (faults[0], faults[1])
