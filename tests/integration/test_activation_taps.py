"""Activation taps without scores (`activation_taps`, what the variance guard reads of the baseline and the
audit of both models) equal the taps `activation_stats` takes while scoring, bit for bit, on the real demo
model; the passes stop before the LM head where scoring splits it off, and run it where scoring does not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from invarlock.adapters.causal_rows import MIN_ROWS
from invarlock.adapters.hf_causal import HFCausalModel
from invarlock.domain.windows import TokenWindow

from tests.integration.test_hf_causal_model import ENGLISH

pytestmark = pytest.mark.model

BATCH = 2  # three windows: a full batch, then a partial one


@pytest.fixture
def model(demo_model: Any) -> Iterator[tuple[HFCausalModel, list[int]]]:
    """The demo model with BATCH windows per pass, and a list counting the LM head's calls (hook removed after)."""
    runner = HFCausalModel(demo_model.module, demo_model.tokenizer().inner, ref="demo", batch_size=BATCH)
    calls: list[int] = []
    handle = demo_model.module.get_output_embeddings().register_forward_hook(lambda *_: calls.append(1))
    try:
        yield runner, calls
    finally:
        handle.remove()


def _windows(runner: HFCausalModel, length: int) -> list[TokenWindow]:
    ids = runner.tokenizer().encode(ENGLISH)
    return [TokenWindow(window_id=i, tokens=tuple(ids[i * length : (i + 1) * length])) for i in range(3)]


def _weights(runner: HFCausalModel) -> list[str]:
    taps = runner.variance_taps()
    return [taps[0], taps[len(taps) // 2], taps[-1]]


def test_taps_without_scores_are_the_scored_taps_bit_for_bit_and_never_run_the_head(
    model: tuple[HFCausalModel, list[int]],
) -> None:
    runner, head_calls = model
    windows, weights = _windows(runner, 48), _weights(runner)
    scored, scores = runner.activation_stats(windows, weights)
    assert len(scores) == 3 and len(head_calls) == 3  # scoring: the head once per window
    progress: list[int] = []
    alone = runner.activation_taps(windows, weights, progress.append)
    assert alone == scored and all(s.count == 3 * 48 * 576 for s in alone.values())
    assert len(head_calls) == 3 and progress == [2, 1]


def test_windows_too_short_to_split_the_head_off_are_tapped_through_the_full_forward(
    model: tuple[HFCausalModel, list[int]],
) -> None:
    runner, head_calls = model
    windows, weights = _windows(runner, MIN_ROWS), _weights(runner)  # MIN_ROWS - 1 rows: full logits (causal_rows)
    scored, _ = runner.activation_stats(windows, weights)
    calls = len(head_calls)
    assert runner.activation_taps(windows, weights) == scored
    assert len(head_calls) == 2 * calls > 0
