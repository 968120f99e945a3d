"""The forward floor's passes for benchmarks/certify_overhead.py: the run's windows cut into the model's batches,
each timed as a bare forward pass, and with `--reused-logits` once more, in turn, with the output head writing its
logits into one buffer kept from pass to pass.

Why the second way: the plain floor, `module(input_ids).logits`, makes a new whole-batch logits tensor every pass
(403 MB for 8 windows of 256 tokens at the demo's vocabulary), above glibc's largest mmap threshold, so every pass
maps it afresh and faults in each page (about 98 k minor faults a pass, 3–4 % of the floor on the 2-core Intel Xeon:
docs/performance.md, the floor's page faults); certify's row-block head makes no such tensor. The head here is the
same matrix product (`torch.matmul(hidden, weight.T, out=buffer)` for a plain `nn.Linear` without bias, the demo's);
any other head is refused. The plain pass of a batch runs first, so a drift of the machine's speed falls on both.
"""

from __future__ import annotations

import resource
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from interleaved_floor import timed_pass
from invarlock.domain import events as ev


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


@dataclass
class PassTimes:
    """Seconds per role and minor page faults of the plain passes; of the reused-logits ones when asked for."""

    seconds: dict[str, float]
    faults: int
    reused: dict[str, float] | None = None
    reused_faults: int | None = None


def forward_batches(events: list[ev.Event], rows: dict[int, Any], models: dict[str, Any]) -> list[tuple[str, Any]]:
    """(role, input_ids) per forward pass certify ran: each WindowsScored event cut into the model's batches."""
    import torch

    out = []
    for scored in (e for e in events if isinstance(e, ev.WindowsScored)):
        model = models[scored.role]
        ids = [r.window_id for r in scored.rows]
        for start in range(0, len(ids), model.batch_size):
            block = np.stack([rows[i] for i in ids[start : start + model.batch_size]]).astype(np.int64)
            out.append((scored.role, torch.from_numpy(block).to(model.device)))
    return out


def time_forwards(models: dict[str, Any], batches: list[tuple[str, Any]], *, reused: bool = False) -> PassTimes:
    """The bare forward passes (logits only) of `batches`, synchronised on accelerators, timed per role with the
    minor page faults the process took meanwhile; with `reused`, each batch also with reused logits, in turn."""
    import torch

    ways = (False, True) if reused else (False,)
    seconds: list[dict[str, float]] = [defaultdict(float) for _ in ways]
    faults = [0 for _ in ways]
    buffers: dict[str, dict[tuple[int, ...], Any]] = defaultdict(dict)  # per role: its logits, made at its first pass
    with torch.inference_mode():
        for role, ids in batches:
            for way in range(len(ways)):
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                with reused_logits(models[role], buffers[role]) if ways[way] else nullcontext():
                    seconds[way][role] += timed_pass(models[role], ids)
                faults[way] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    if not reused:
        return PassTimes(dict(seconds[0]), faults[0])
    return PassTimes(dict(seconds[0]), faults[0], dict(seconds[1]), faults[1])
