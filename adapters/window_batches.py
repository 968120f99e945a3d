"""How windows go into a model's passes: batches of one length, as one id tensor, padded to the batch size."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from invarlock.domain.windows import TokenWindow


def token_ids(batch: Sequence[TokenWindow], device: torch.device, rows: int = 0) -> torch.Tensor:
    """The windows' ids as one (batch, seq_len) long tensor on `device`; with `rows`, a partial batch is padded
    to that many rows with its own windows again, in order (their outputs are dropped).

    Why pad: a CPU matmul kernel may give a row other bits in a pass of fewer rows (an Intel Xeon with AMX did,
    for passes under 256 rows), so a window scored in the last, partial batch of an arm, or by the
    re-execution audit in a batch of its sample, would not repeat its certified bits. With every pass
    `rows` windows long, a window's bits depend on its tokens and the batch size only."""
    return pad_rows(torch.tensor([w.tokens for w in batch], dtype=torch.long, device=device), rows)


def pad_rows(ids: torch.Tensor, rows: int) -> torch.Tensor:
    """`ids` (n, L) padded to `rows` rows with its own rows again, in order (token_ids says why); the caller
    drops the outputs of the added rows."""
    count = ids.shape[0]
    if count >= rows:
        return ids
    return torch.cat([ids, ids[torch.arange(rows - count, device=ids.device) % count]])


def batches(windows: Sequence[TokenWindow], size: int) -> Iterator[list[TokenWindow]]:
    """Consecutive runs of at most `size` windows of one length, in the order given."""
    batch: list[TokenWindow] = []
    for window in windows:
        if batch and (len(batch) == size or len(window.tokens) != len(batch[0].tokens)):
            yield batch
            batch = []
        batch.append(window)
    if batch:
        yield batch
