"""Lockstep scoring keeps one row block of a window's logits per model alive at a time: when a runner's head
makes the next block's logits (the next window's, or the next rows of a window longer than HEAD_ROWS), the
previous block of both models is already released (they are vocabulary-wide: at the demo size 50 MB each for a
window of 256 tokens, and holding the previous pair doubled this term of the peak resident memory)."""

from __future__ import annotations

import weakref

import pytest
from invarlock.domain.windows import TokenWindow

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.hf

from invarlock.adapters import causal_rows  # noqa: E402
from invarlock.adapters.causal_lockstep import lockstep_pairs  # noqa: E402  (needs torch)
from invarlock.adapters.causal_rows import HEAD_ROWS, MIN_ROWS, HeldHead, row_blocks  # noqa: E402

VOCAB, HIDDEN, SEQ = 96, 8, MIN_ROWS + 1


class SplitHeadRunner:
    """A causal runner with a plain linear head split off (causal_rows.CausalHidden, a HeldHead as HFCausalModel's),
    recording how many logit tensors it made earlier are still alive each time it makes one (`alive_at_head` is
    shared by both runners)."""

    def __init__(self, seed: int, made: list[weakref.ref[torch.Tensor]], alive_at_head: list[int]) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.embedding = torch.randn(VOCAB, HIDDEN, generator=generator)
        linear = torch.nn.Linear(HIDDEN, VOCAB, bias=False)
        linear.weight = torch.nn.Parameter(torch.randn(VOCAB, HIDDEN, generator=generator))
        self.head = RecordingHead(linear, made, alive_at_head)

    def causal_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head.head(self.embedding[ids])  # type: ignore[no-any-return]

    def causal_hidden(self, ids: torch.Tensor) -> tuple[torch.Tensor, object]:
        return self.embedding[ids], self.head


class RecordingHead(HeldHead):
    def __init__(self, linear: torch.nn.Linear, made: list[weakref.ref[torch.Tensor]], alive: list[int]) -> None:
        super().__init__(linear, [])
        self.made, self.alive_at_head = made, alive

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        self.alive_at_head.append(sum(ref() is not None for ref in self.made))
        logits = super().__call__(rows)
        self.made.append(weakref.ref(logits))
        return logits


def _windows(count: int, length: int) -> list[TokenWindow]:
    generator = torch.Generator().manual_seed(7)
    return [
        TokenWindow(window_id=i, tokens=tuple(torch.randint(0, VOCAB, (length,), generator=generator).tolist()))
        for i in range(count)
    ]


@pytest.mark.parametrize("length", [SEQ, 2 * HEAD_ROWS + 10])  # one row block per window; three
def test_a_block_pair_is_released_before_the_next_blocks_logits_are_made(length: int, monkeypatch):
    monkeypatch.setattr(causal_rows, "MMAP_THRESHOLD", VOCAB * 4 * (HEAD_ROWS + 2))  # 130 rows per head call
    made: list[weakref.ref[torch.Tensor]] = []
    alive: list[int] = []
    baseline, subject = SplitHeadRunner(1, made, alive), SplitHeadRunner(2, made, alive)
    pairs = list(lockstep_pairs(baseline, subject, _windows(6, length), batch_size=4, progress=None))
    assert [p.window_id for p in pairs] == list(range(6))
    blocks = len(row_blocks(length - 1, HEAD_ROWS + 2))
    assert blocks == (1 if length == SEQ else 3)
    assert len(alive) == 2 * 6 * blocks  # both heads once per block; the padding windows of the last pass get none
    # the baseline's head runs with nothing alive, the subject's with the baseline's logits of the same window
    assert max(alive) == 1, alive
    assert alive[0::2] == [0] * (len(alive) // 2)
