"""The one-window-at-a-time logits (causal_rows: the body once per batch, the LM head per window) give the
same evidence, bit for bit, as reducing the batch's full logits: per-window NLL sums, KL, its histogram and
top-k agreement, in lockstep and alone, on the real demo model against an edited copy of it (CPU float32)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from invarlock.adapters.causal_lockstep import lockstep_pairs
from invarlock.adapters.causal_rows import MIN_ROWS, row_blocks, rows_per_call, window_logits
from invarlock.adapters.hf_causal import HFCausalModel
from invarlock.adapters.hf_nll import window_scores
from invarlock.adapters.window_batches import token_ids
from invarlock.domain.windows import TokenWindow

from tests.integration.test_hf_causal_model import ENGLISH

pytestmark = pytest.mark.model

WINDOWS, SEQ_LEN, BATCH = 3, 32, 2  # two batches: 2 windows, then 1


class FullLogits:
    """Today's reference path: a runner that only gives the batch's whole (batch, positions, vocab) logits."""

    def __init__(self, model: HFCausalModel) -> None:
        self.causal_logits = model.causal_logits


@pytest.fixture(scope="module")
def ids(demo_model: Any) -> list[int]:
    return list(demo_model.tokenizer().encode(ENGLISH))


def _windows(ids: list[int], length: int) -> list[TokenWindow]:
    return [TokenWindow(window_id=3 + i, tokens=tuple(ids[i * length : (i + 1) * length])) for i in range(WINDOWS)]


@pytest.fixture(scope="module")
def subject(demo_model: Any) -> HFCausalModel:
    """The demo model with one block's FFN output scaled: a subject whose logits differ from the baseline's."""
    module = copy.deepcopy(demo_model.module)
    with torch.no_grad():
        module.model.layers[3].mlp.down_proj.weight.mul_(1.25)
    return HFCausalModel(module, demo_model.tokenizer().inner, ref="scaled", batch_size=BATCH)


LONG = 180  # 179 rows: more than one head call makes (rows_per_call: 170 at the demo's vocabulary), two row blocks


# 31 rows per head call; the smallest window split per head (MIN_ROWS rows); the largest full-logits fallback;
# a window made and reduced in two row blocks (causal_rows.row_blocks)
@pytest.mark.parametrize("length", [SEQ_LEN, MIN_ROWS + 1, MIN_ROWS, LONG])
def test_lockstep_evidence_is_bit_identical_to_the_full_logits_reduction(
    demo_model: Any, subject: HFCausalModel, ids: list[int], length: int
) -> None:
    windows = _windows(ids, length)
    split = list(lockstep_pairs(demo_model, subject, windows, BATCH, None))
    full = list(lockstep_pairs(FullLogits(demo_model), FullLogits(subject), windows, BATCH, None))
    assert split == full  # frozen Structs: every float64 sum compared with ==
    assert all(p.comparison is not None and p.comparison.kl_sum > 0 for p in split)
    assert [p.baseline.nll_sum for p in split] != [p.subject.nll_sum for p in split]
    assert all(len(w.tokens) == length for w in windows)
    assert len(row_blocks(length - 1, rows_per_call(demo_model.module.config.vocab_size))) == (
        2 if length == LONG else 1
    )


def test_scoring_alone_is_bit_identical_and_the_head_is_applied_per_window(demo_model: Any, ids: list[int]) -> None:
    windows = _windows(ids, SEQ_LEN)
    batch = token_ids(windows, torch.device("cpu"), demo_model.batch_size)  # padded, as score pads its pass
    with torch.inference_mode():
        full = demo_model.causal_logits(batch)
        rows = [torch.cat([r.clone() for r in blocks]) for blocks in window_logits(demo_model, batch, WINDOWS)]
    assert [tuple(r.shape) for r in rows] == [(SEQ_LEN - 1, full.shape[-1])] * WINDOWS
    assert all(torch.equal(r, full[i, :-1]) for i, r in enumerate(rows))
    assert list(demo_model.score(windows)) == window_scores(windows, batch, full)


def test_a_family_whose_head_is_not_plain_scores_from_full_logits(demo_model: Any, ids: list[int]) -> None:
    capped = copy.copy(demo_model.module)  # shares the weights
    capped.config = copy.copy(demo_model.module.config)
    model = HFCausalModel(capped, demo_model.tokenizer().inner, ref="capped")
    capped.config.model_type = "gemma2"  # soft-caps its logits after the head
    assert model.causal_hidden(torch.tensor([ids[:SEQ_LEN]])) is None
    assert list(model.score(_windows(ids, SEQ_LEN))) == list(demo_model.score(_windows(ids, SEQ_LEN)))


@pytest.mark.parametrize(("hook", "split"), [(None, True), ((False,), True), ((True,), False), ((False, True), False)])
def test_a_head_that_accelerate_reads_from_its_offload_map_is_not_split(hook: Any, split: bool) -> None:
    from types import SimpleNamespace

    from invarlock.adapters.causal_rows import split_head

    head = SimpleNamespace()
    if hook is not None:  # one AlignDevicesHook, or a SequentialHook of several
        hooks = [SimpleNamespace(offload=offload) for offload in hook]
        head._hf_hook = hooks[0] if len(hooks) == 1 else SimpleNamespace(hooks=hooks)
    module = SimpleNamespace(config=SimpleNamespace(model_type="llama"), get_output_embeddings=lambda: head)
    module.base_model = SimpleNamespace()
    assert (split_head(module) is head) is split


def test_a_window_scores_to_the_same_bits_in_a_full_batch_a_partial_one_or_alone(
    demo_model: Any, subject: HFCausalModel, ids: list[int]
) -> None:
    """The re-execution audit re-scores a sample of windows in batches of its own, and an arm's last batch is
    partial: a pass is padded to the batch size, so a window's bits do not depend on its batch-mates (on an
    Intel Xeon with AMX, a 3-window pass of 40-token windows gave other bits than the 8-window one)."""
    length = 40  # 8 x 40 rows in a full pass, 3 x 40 in the partial one: either side of that Xeon's 256
    size = demo_model.batch_size
    windows = [TokenWindow(window_id=i, tokens=tuple(ids[i * length : (i + 1) * length])) for i in range(size)]
    whole = list(lockstep_pairs(demo_model, subject, windows, size, None))
    for part in (windows[2:5], windows[6:7]):
        chosen = {w.window_id for w in part}
        assert list(lockstep_pairs(demo_model, subject, part, size, None)) == [
            p for p in whole if p.window_id in chosen
        ]
    assert list(demo_model.score(windows[3:4])) == [whole[3].baseline]


def test_a_model_keeps_its_head_tensor_between_passes_and_its_duplicate_has_its_own(
    demo_model: Any, ids: list[int]
) -> None:
    """HFCausalModel writes every pass's per-window logits into one tensor it keeps (no fresh pages per batch);
    a duplicate, which lockstep may pair with it, writes into another."""
    batch = token_ids(_windows(ids, SEQ_LEN)[:BATCH], torch.device("cpu"))
    twin = demo_model.duplicate()
    with torch.inference_mode():
        first = next(next(window_logits(demo_model, batch)))
        again = next(next(window_logits(demo_model, batch)))
        assert again.data_ptr() == first.data_ptr()
        assert next(next(window_logits(twin, batch))).data_ptr() != first.data_ptr()


@pytest.fixture(scope="module")
def twin(demo_model: Any) -> HFCausalModel:
    """A copy on write of the demo model with one block's FFN output scaled (as `invarlock run` edits its
    subject): other logits, but the very head tensor of the baseline (the tied embedding is not written)."""
    model = demo_model.duplicate()
    name = "model.layers.3.mlp.down_proj.weight"
    model.assign(name, dict(model.module.named_parameters())[name].detach().numpy() * 1.25)
    assert model.module.lm_head.weight.data_ptr() == demo_model.module.lm_head.weight.data_ptr()
    return model  # type: ignore[no-any-return]


# one call per window; the smallest; two calls of both models' rows (85 rows of each per call at the demo's vocabulary)
@pytest.mark.parametrize("length", [SEQ_LEN, MIN_ROWS + 1, 100])
def test_one_head_tensor_scores_both_models_windows_in_one_matmul_with_the_same_bits(
    demo_model: Any, twin: HFCausalModel, ids: list[int], length: int
) -> None:
    """Where the subject's head is the baseline's tensor, each window's logits of both models come from one
    matmul over both models' rows (causal_rows.window_logit_pairs): the evidence equals the full logits'."""
    windows = _windows(ids, length)
    stacked = list(lockstep_pairs(demo_model, twin, windows, BATCH, None))
    assert twin._head_logits == []  # the twin's head was not called: one tensor of both models' rows
    blocks = row_blocks(length - 1, rows_per_call(demo_model.module.config.vocab_size) // 2)  # type: ignore[operator]
    assert len(blocks) == (2 if length == 100 else 1)
    largest = max(stop - start for start, stop in blocks)
    assert demo_model._head_logits[0].shape[0] >= 2 * largest  # rows of both (kept: the most asked for)
    full = list(lockstep_pairs(FullLogits(demo_model), FullLogits(twin), windows, BATCH, None))
    assert stacked == full
    assert all(p.comparison is not None and p.comparison.kl_sum > 0 for p in stacked)
    # alone, its head per window again, at its own batch size: with more than one torch thread the body's bits
    # depend on the batch size (a runner pads every pass to it for that reason), so compare like with like
    same_passes = list(lockstep_pairs(demo_model, twin, windows, twin.batch_size, None))
    assert list(twin.score(windows)) == [p.subject for p in same_passes]
    assert twin._head_logits[0].shape[0] >= length - 1
