"""Deterministic masked-LM masking: keyed by (seed, window digest), 15 % of positions, the 80/10/10 rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain.errors import UsageError
from invarlock.domain.masking import mask_window, masked_count
from invarlock.domain.windows import TokenWindow, token_windows

VOCAB, MASK = 30522, 103
_TOKENS = st.lists(st.integers(min_value=1000, max_value=VOCAB - 1), min_size=1, max_size=200).map(tuple)


@settings(max_examples=60, deadline=None)
@given(_TOKENS, st.integers(0, 2**31))
def test_the_mask_covers_ceil_15_percent_of_positions_and_leaves_the_rest_alone(tokens, seed):
    masked = mask_window(tokens, seed=seed, mask_id=MASK, vocab_size=VOCAB)
    assert len(masked.positions) == masked_count(len(tokens)) == max(1, math.ceil(0.15 * len(tokens) - 1e-9))
    assert list(masked.positions) == sorted(set(masked.positions)) and all(
        0 <= p < len(tokens) for p in masked.positions
    )
    outside = set(range(len(tokens))) - set(masked.positions)
    assert all(masked.input_ids[p] == tokens[p] for p in outside)
    assert all(0 <= t < VOCAB for t in masked.input_ids)


@settings(max_examples=30, deadline=None)
@given(_TOKENS, st.integers(0, 2**31))
def test_the_same_window_and_seed_give_the_same_mask_and_the_positions_do_not_depend_on_the_vocabulary(tokens, seed):
    one = mask_window(tokens, seed=seed, mask_id=MASK, vocab_size=VOCAB)
    assert mask_window(tokens, seed=seed, mask_id=MASK, vocab_size=VOCAB) == one
    assert mask_window(tokens, seed=seed, mask_id=5, vocab_size=200).positions == one.positions


def test_another_seed_or_another_window_gives_another_mask():
    tokens = tuple(range(1000, 1128))
    base = mask_window(tokens, seed=42, mask_id=MASK, vocab_size=VOCAB)
    assert mask_window(tokens, seed=43, mask_id=MASK, vocab_size=VOCAB).positions != base.positions
    shifted = (*tokens[1:], 2000)
    assert mask_window(shifted, seed=42, mask_id=MASK, vocab_size=VOCAB).positions != base.positions


def test_over_many_windows_the_replacements_follow_80_10_10():
    rng = np.random.default_rng(0)
    kinds = np.zeros(3)
    for _ in range(300):
        tokens = tuple(int(t) for t in rng.integers(1000, VOCAB, size=128))
        masked = mask_window(tokens, seed=42, mask_id=MASK, vocab_size=VOCAB)
        for p in masked.positions:
            new = masked.input_ids[p]
            kinds[0 if new == MASK else 2 if new == tokens[p] else 1] += 1
    share = kinds / kinds.sum()  # 6000 masked positions: a share's standard error is under 0.6 %
    assert abs(share[0] - 0.8) < 0.03 and abs(share[1] - 0.1) < 0.02 and abs(share[2] - 0.1) < 0.02


@pytest.mark.parametrize(("tokens", "mask_id", "vocab"), [((), MASK, VOCAB), ((5, 6), VOCAB, VOCAB), ((5,), 1, 0)])
def test_an_empty_window_or_a_mask_id_outside_the_vocabulary_is_e104(tokens, mask_id, vocab):
    with pytest.raises(UsageError) as err:
        mask_window(tokens, seed=1, mask_id=mask_id, vocab_size=vocab)
    assert err.value.code == "E104"


def test_token_windows_give_stream_rows_and_labelled_examples_the_same_mask_seed_keeping_labels():
    example = TokenWindow(window_id=7, tokens=(5, 6, 7), label=1, candidates=((9,), (10,)))
    rows = {3: np.array([1, 2, 3, 4], dtype=np.uint32), 7: example}
    stream, labelled = token_windows([3, 7], rows, seed=42)
    assert (stream.window_id, stream.tokens, stream.mask_seed, stream.label) == (3, (1, 2, 3, 4), 42, None)
    assert labelled == TokenWindow(window_id=7, tokens=(5, 6, 7), label=1, candidates=((9,), (10,)), mask_seed=42)
