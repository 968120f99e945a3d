"""Lockstep scoring keeps one window's logits per model alive at a time: when a runner's head makes the next
window's logits, the previous window's of both models are already released (they are vocabulary-wide: at the
demo size 50 MB each, and holding the previous pair doubled this term of the peak resident memory)."""

from __future__ import annotations

import weakref

import pytest
from invarlock.domain.windows import TokenWindow

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.hf

from invarlock.adapters.causal_lockstep import lockstep_pairs  # noqa: E402  (needs torch)
from invarlock.adapters.causal_rows import MIN_ROWS  # noqa: E402

VOCAB, HIDDEN, SEQ = 96, 8, MIN_ROWS + 1


class SplitHeadRunner:
    """A causal runner with a linear head split off (causal_rows.CausalHidden), recording how many logit tensors
    it made earlier are still alive each time it makes one (`alive_at_head` is shared by both runners)."""

    def __init__(self, seed: int, made: list[weakref.ref[torch.Tensor]], alive_at_head: list[int]) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.embedding = torch.randn(VOCAB, HIDDEN, generator=generator)
        self.head_weight = torch.randn(VOCAB, HIDDEN, generator=generator)
        self.made, self.alive_at_head = made, alive_at_head

    def causal_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding[ids] @ self.head_weight.T

    def causal_hidden(self, ids: torch.Tensor) -> tuple[torch.Tensor, object]:
        return self.embedding[ids], self._head

    def _head(self, rows: torch.Tensor) -> torch.Tensor:
        self.alive_at_head.append(sum(ref() is not None for ref in self.made))
        logits = rows @ self.head_weight.T
        self.made.append(weakref.ref(logits))
        return logits


def _windows(count: int) -> list[TokenWindow]:
    generator = torch.Generator().manual_seed(7)
    return [
        TokenWindow(window_id=i, tokens=tuple(torch.randint(0, VOCAB, (SEQ,), generator=generator).tolist()))
        for i in range(count)
    ]


def test_a_window_pair_is_released_before_the_next_windows_logits_are_made():
    made: list[weakref.ref[torch.Tensor]] = []
    alive: list[int] = []
    baseline, subject = SplitHeadRunner(1, made, alive), SplitHeadRunner(2, made, alive)
    pairs = list(lockstep_pairs(baseline, subject, _windows(6), batch_size=4, progress=None))
    assert [p.window_id for p in pairs] == list(range(6))
    assert len(alive) == 2 * 6  # both heads once per window; the padding windows of the last pass get no head
    # the baseline's head runs with nothing alive, the subject's with the baseline's logits of the same window
    assert max(alive) == 1, alive
    assert alive[0::2] == [0] * (len(alive) // 2)
