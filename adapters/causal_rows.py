"""Per-window logits of a causal LM, one window at a time, instead of the whole batch's (batch, positions,
vocab) tensor: the transformer body runs once over the batch to its final hidden states (small), then the LM
head is applied to each window's rows and the caller reduces them before the next window's are made.

Same bits as the full logits: the head is the very module the model's own forward applies to the same hidden
states, with no scaling or soft-capping after it for the families in PLAIN_HEAD_TYPES; on CPU float32 its
matmul gives each row the same values whether it multiplies the batch's rows or one window's, once a window
has MIN_ROWS rows: the kernel then accumulates each output over the hidden size in the same order for any row
count. Below that, other kernels may answer: a single row takes the GEMV path everywhere, and on an Intel Xeon
with AMX, 3 to 15 rows gave other bits than the batch's logits (an AMD EPYC agreed from 8 rows up), hence 16.
tests/integration/test_window_logits.py checks the smallest split window and the largest fallback on the demo
model, and the re-execution audit would flag any build where it did not hold.

A plain linear head writes every call's logits into the first rows of one tensor (`reusing_output`): a fresh
vocabulary-wide tensor per window (50 MB at the demo size) is mapped anew and faults in 12 k zeroed pages, about
a tenth of the head's time on CPU. So a window's logits are valid until the next call's are asked for. A runner
that keeps that tensor between its passes (HFCausalModel: for its lifetime) also saves the faults once per batch.

Two models whose heads are one weight tensor (a copy on write whose edit left the head alone, or a subject
checkpoint's head shared once loaded) get each window's logits of both from one matmul over both models' rows
on CPU in float32 (`window_logit_pairs`): the same bits, by the row-count property above, and the same memory
as two windows' tensors, in a matmul of twice the rows that the CPU runs about 8 % faster than two
(docs/performance.md, section KL).

Row blocks: on CPU in float32 a window's rows go through the head in blocks (`row_blocks`) of at most as many
rows as fit glibc's mmap threshold (`rows_per_call`; 170 at the demo's vocabulary, 85 per model when both
models' rows share a call), each reduced before the next is made: the same bits, by the row-count property, and
an output tensor small enough to be served from the heap, where the body's freed activations are kept
(adapters/heap.py), instead of 50–100 MB of new pages beside them. Measured on the demo: the default `run`'s peak
fell by 71–99 MiB; three matmuls of 170 rows instead of one of 510 cost about 5 % of the head's time, 0.9 % of
scoring (docs/performance.md, "Row blocks").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import torch

from .heap import MMAP_THRESHOLD

# model_type -> its *ForCausalLM forward is `logits = lm_head(last_hidden_state)`, nothing after (transformers
# 5.x). A family with a logit scale or a soft cap (Cohere, Gemma 2/3, ...) is absent and scores from full logits.
PLAIN_HEAD_TYPES = frozenset({"gpt2", "llama", "mistral", "qwen2", "qwen3"})
MIN_ROWS = 16  # fewer rows per window: the batch's full logits (a small tensor then), see the module docstring
HEAD_ROWS = 128  # fewest rows per head call for which a window is split into row blocks (rows_per_call)

Head = Callable[[torch.Tensor], torch.Tensor]


@runtime_checkable
class CausalLogits(Protocol):
    """A causal LM runner that gives the float logits (batch, positions, vocab) of a (batch, positions) id
    tensor, as a torch tensor (on the runner's device), with no BOS added and no cache."""

    def causal_logits(self, ids: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class CausalHidden(Protocol):
    """A causal LM runner that can split its forward into the body and the LM head."""

    def causal_hidden(self, ids: torch.Tensor) -> tuple[torch.Tensor, Head] | None:
        """The final hidden states (batch, positions, hidden) of `ids` and the head that maps rows of them to
        the logits exactly as the model's forward does; None when this model's head cannot be split off.
        The logits a head call returns may be overwritten by its next call."""
        ...


def split_head(module: Any) -> Head | None:
    """The LM head of a transformers causal LM whose logits are exactly `head(last_hidden_state)`, held in
    memory; None otherwise (the caller then takes the full logits)."""
    if getattr(module.config, "model_type", None) not in PLAIN_HEAD_TYPES:
        return None
    head = module.get_output_embeddings()
    if head is None or module.base_model is module or _offloaded(head):
        return None
    return head  # type: ignore[no-any-return]


class HeldHead:
    """A bias-free torch Linear head that writes each call's logits into the first rows of one tensor, kept in
    `held` (see reusing_output)."""

    def __init__(self, head: torch.nn.Linear, held: list[torch.Tensor]) -> None:
        self.head, self.weight_t, self.held = head, head.weight.t(), held

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.head(rows)  # type: ignore[no-any-return]
        held, count, vocab = self.held, rows.shape[0], self.weight_t.shape[1]
        if not held or held[0].shape[0] < count or (held[0].dtype, held[0].device) != (rows.dtype, rows.device):
            held.clear()  # the old tensor is released before its successor is made
            held.append(rows.new_empty((count, vocab)))
        return torch.mm(rows, self.weight_t, out=held[0][:count])

    def same_weight(self, other: HeldHead) -> bool:
        """Whether both heads multiply by the very same values in memory: one weight tensor (same address,
        shape, layout, dtype and device), as a copy on write's subject holds its baseline's unedited head."""
        return _layout(self.weight_t) == _layout(other.weight_t)


def _layout(tensor: torch.Tensor) -> tuple[Any, ...]:
    return tensor.data_ptr(), tensor.shape, tensor.stride(), tensor.dtype, tensor.device


def reusing_output(head: Any, held: list[torch.Tensor] | None = None) -> Head:
    """`head` as a callable that writes each call's logits into one tensor, made at the first call (and again
    when the row count, dtype or device changes), and returns it: a call's logits are overwritten by the next
    call's. The same bits as `head(rows)` (the same matmul into another buffer). A head with a bias or forward
    hooks, any module but a torch Linear, or a call with autograd on, is called as it is.

    `held` keeps that tensor: a new list by default (it lives as long as the callable), or the caller's, which
    then keeps it between callables; one list per head whose logits may be alive at once."""
    if type(head) is not torch.nn.Linear or head.bias is not None or _hooked(head):
        return head  # type: ignore[no-any-return]
    return HeldHead(head, [] if held is None else held)


def _hooked(head: Any) -> bool:
    """Whether calling the module does more than its forward: its own or global forward hooks (taps),
    accelerate's device hook."""
    hooks = torch.nn.modules.module
    return bool(
        head._forward_hooks
        or head._forward_pre_hooks
        or hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
        or hasattr(head, "_hf_hook")
    )


def _offloaded(head: Any) -> bool:
    """Whether accelerate reads the head's weight from its offload map at each call (device_map with a CPU or
    disk cap): applied per window it would read it once per window, so such a head takes the full logits."""
    hook = getattr(head, "_hf_hook", None)
    return any(getattr(h, "offload", False) for h in getattr(hook, "hooks", (hook,)))


Blocks = Iterator[torch.Tensor]
BlockPairs = Iterator[tuple[torch.Tensor, torch.Tensor]]
Parts = tuple[torch.Tensor, Head]


def rows_per_call(vocab: int) -> int | None:
    """The most logit rows one head call makes in float32 on CPU: as many as fit glibc's mmap threshold
    (heap.MMAP_THRESHOLD, 32 MiB; 170 rows at the demo's vocabulary of 49 152), so the head's output tensor is
    served from the heap's freed activations instead of new pages (module docstring, "Row blocks"). None where
    fewer than HEAD_ROWS rows fit (a vocabulary above 65 536): there each window runs in one call, since more
    calls per window would each read the whole (large) head while the tensor is mapped anyway."""
    fit = MMAP_THRESHOLD // (vocab * 4)
    return fit if fit >= HEAD_ROWS else None


def row_blocks(rows: int, most: int | None) -> list[tuple[int, int]]:
    """(start, stop) of the row blocks a window of `rows` logit rows is made and reduced in: near-equal blocks
    of at most `most` rows and at least MIN_ROWS (so each head call keeps the row-count property); the whole
    window as one block when `most` is None or it has fewer than 2 * MIN_ROWS rows."""
    count = 1 if most is None else max(1, min(-(-rows // most), rows // MIN_ROWS))
    size, longer = divmod(rows, count)
    stops = [(k + 1) * size + min(k + 1, longer) for k in range(count)]
    return list(zip([0, *stops[:-1]], stops, strict=True))


def window_logits(runner: CausalLogits, ids: torch.Tensor, count: int | None = None) -> Iterator[Blocks]:
    """The logits of positions 0..L-2 (those that predict tokens 1..L-1) of the first `count` windows of `ids`
    (all by default; the rest pad the pass, window_batches.token_ids), in order, each window's as consecutive
    row blocks (row_blocks of _call_rows: split only where a plain head splits off on CPU in float32, else one
    block of the whole window). A block is valid until the next one is asked for: reduce it first."""
    count = ids.shape[0] if count is None else count
    parts = _split(runner, ids)
    ranges = row_blocks(ids.shape[1] - 1, None if parts is None else _call_rows(*parts))
    yield from _rows(runner, ids, parts, count, ranges)


def window_logit_pairs(
    mine: CausalLogits, other: CausalLogits, ids: torch.Tensor, count: int | None = None
) -> Iterator[BlockPairs]:
    """Both runners' window_logits of the same `ids`, window by window, as pairs of the same row block. Where
    both heads multiply by one float32 weight tensor on CPU (HeldHead.same_weight: `run`'s subject under an
    edit that leaves the head alone, a model certified against itself, a subject checkpoint's head shared once
    loaded), each block's rows of both models go through one matmul, with the same bits (each row's values do
    not depend on the row count from MIN_ROWS up, module docstring) in a matmul the CPU runs faster than two:
    both halves views of one tensor kept by `mine`'s head; `other`'s kept tensor is released."""
    count = ids.shape[0] if count is None else count
    yield from logit_pairs_of(mine, _split(mine, ids), other, ids, count)


def logit_pairs_of(
    mine: CausalLogits | None, mine_parts: Parts | None, other: CausalLogits, ids: torch.Tensor, count: int
) -> Iterator[BlockPairs]:
    """window_logit_pairs with `mine`'s hidden states and head given (`mine_parts`; None: `mine`'s full logits),
    e.g. a released baseline's, kept (causal_reference). Windows are split into row blocks only where both
    heads split off (_call_rows); otherwise each window is one block (both sides' bits as before)."""
    other_parts, rows = _split(other, ids), ids.shape[1] - 1
    most = None
    if mine_parts is not None and other_parts is not None:
        (hidden, head), (other_hidden, other_head) = mine_parts, other_parts
        if (
            isinstance(head, HeldHead)
            and isinstance(other_head, HeldHead)
            and _one_head(hidden, other_hidden, head, other_head)
        ):
            per_call = _call_rows(hidden, head)
            ranges = row_blocks(rows, None if per_call is None else per_call // 2)  # a call makes both models' rows
            yield from _stacked(hidden, other_hidden, head, other_head, count, ranges)
            return
        mine_most, other_most = _call_rows(hidden, head), _call_rows(other_hidden, other_head)
        if mine_most is not None and other_most is not None:
            most = min(mine_most, other_most)
    ranges = row_blocks(rows, most)
    mine_rows, other_rows = _rows(mine, ids, mine_parts, count, ranges), _rows(other, ids, other_parts, count, ranges)
    for _ in range(count):  # not zip: it keeps its last tuple, hence the last pair, while it makes the next one
        yield _zipped(next(mine_rows), next(other_rows))


def _call_rows(hidden: torch.Tensor, head: Head) -> int | None:
    """rows_per_call of a plain head (HeldHead) on CPU float32 rows: where the row-count property is established
    (module docstring). None elsewhere (a GPU's BLAS may choose its kernel by the row count, a bfloat16 head, a
    head with a bias or hooks): there a window's head runs on its whole rows, as before row blocks."""
    return rows_per_call(head.weight_t.shape[1]) if isinstance(head, HeldHead) and _plain(hidden) else None


def _zipped(mine: Blocks, other: Blocks) -> BlockPairs:
    while (block := next(mine, None)) is not None:  # not a for loop: it holds a block while making the next
        yield block, next(other)
        del block


def _split(runner: CausalLogits, ids: torch.Tensor) -> Parts | None:
    if isinstance(runner, CausalHidden) and ids.shape[1] - 1 >= MIN_ROWS:
        return runner.causal_hidden(ids)
    return None


def _rows(
    runner: CausalLogits | None, ids: torch.Tensor, parts: Parts | None, count: int, ranges: list[tuple[int, int]]
) -> Iterator[Blocks]:
    if parts is None:
        assert runner is not None, "a runner without parts gives its full logits"
        logits = runner.causal_logits(ids)
        for i in range(count):
            yield (logits[i, start:stop] for start, stop in ranges)
        return
    hidden, head = parts
    for i in range(count):
        yield (head(hidden[i, start:stop]) for start, stop in ranges)


def _plain(hidden: torch.Tensor) -> bool:
    return (hidden.dtype, hidden.device) == (torch.float32, torch.device("cpu"))


def _one_head(hidden: torch.Tensor, other_hidden: torch.Tensor, head: HeldHead, other_head: HeldHead) -> bool:
    """Whether both heads are one weight tensor, on CPU in float32 (_plain). Elsewhere the heads run apart, so
    a window's bits do not depend on whether the other model's head is the same tensor (baseline reuse pairs a
    baseline scored beside one subject with another)."""
    return _plain(hidden) and _plain(other_hidden) and head.same_weight(other_head)


def _stacked(
    hidden: torch.Tensor,
    other_hidden: torch.Tensor,
    head: HeldHead,
    other_head: HeldHead,
    count: int,
    ranges: list[tuple[int, int]],
) -> Iterator[BlockPairs]:
    other_head.held.clear()  # its tensor would sit unused beside the stacked one
    for i in range(count):
        yield _stacked_window(hidden[i], other_hidden[i], head, ranges)


def _stacked_window(
    mine: torch.Tensor, other: torch.Tensor, head: HeldHead, ranges: list[tuple[int, int]]
) -> BlockPairs:
    for start, stop in ranges:
        logits = head(torch.cat((mine[start:stop], other[start:stop])))
        yield logits[: stop - start], logits[stop - start :]
        del logits
