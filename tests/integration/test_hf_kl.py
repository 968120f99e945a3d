"""KL(baseline ‖ subject), top-1 and top-5 agreement of the lockstep path on the real demo model, checked
against a direct float64 computation from the two models' logits (plain transformers calls, log_softmax)."""

from __future__ import annotations

import bisect
import copy
from typing import Any

import pytest
from invarlock.adapters.hf_causal import HFCausalModel
from invarlock.adapters.quant_rtn import QuantRTNEdit
from invarlock.domain.metrics.kl_bins import BINS, EDGES
from invarlock.domain.model import WindowComparison
from invarlock.domain.windows import TokenWindow

from tests.integration.test_hf_causal_model import ENGLISH

pytestmark = pytest.mark.model

WINDOWS, SEQ_LEN = 3, 64


@pytest.fixture(scope="module")
def windows(demo_model: Any) -> list[TokenWindow]:
    ids = demo_model.tokenizer().encode(ENGLISH)
    return [TokenWindow(window_id=7 + i, tokens=tuple(ids[i * SEQ_LEN : (i + 1) * SEQ_LEN])) for i in range(WINDOWS)]


def _quantized(demo_model: Any, bits: int) -> HFCausalModel:
    subject = HFCausalModel(copy.deepcopy(demo_model.module), demo_model.tokenizer().inner, ref=f"int{bits}")
    QuantRTNEdit().apply(subject, {"bits": bits})
    return subject


@pytest.fixture(scope="module")
def int8(demo_model: Any) -> HFCausalModel:
    return _quantized(demo_model, 8)


@pytest.fixture(scope="module")
def int4(demo_model: Any) -> HFCausalModel:
    return _quantized(demo_model, 4)


def _reference(base: Any, subj: Any, windows: list[TokenWindow], batch_size: int) -> list[WindowComparison]:
    """The same pass through each transformers module (the windows padded to the batch size with themselves,
    as the scorer pads a partial batch), then per position in float64: KL from log_softmax, argmax agreement,
    top-5 set overlap, and the bin of each token KL by bisection over the edges."""
    import torch

    ids = torch.tensor([windows[i % len(windows)].tokens for i in range(max(batch_size, len(windows)))])
    with torch.inference_mode():
        logits_b = base(input_ids=ids, use_cache=False).logits[:, :-1].double()
        logits_s = subj(input_ids=ids, use_cache=False).logits[:, :-1].double()
    rows = []
    for i, w in enumerate(windows):
        log_b, log_s = torch.log_softmax(logits_b[i], -1), torch.log_softmax(logits_s[i], -1)
        kl = (log_b.exp() * (log_b - log_s)).sum(-1).tolist()
        top_b, top_s = logits_b[i].topk(5).indices.tolist(), logits_s[i].topk(5).indices.tolist()
        histogram = [0] * BINS
        for value in kl:
            histogram[bisect.bisect_right(EDGES, value)] += 1
        rows.append(
            WindowComparison(
                window_id=w.window_id,
                positions=len(kl),
                kl_sum=sum(kl),
                kl_max=max(kl),
                kl_histogram=tuple(histogram),
                top1_agree=sum(
                    int(a == b) for a, b in zip(logits_b[i].argmax(-1), logits_s[i].argmax(-1), strict=True)
                ),
                top5_overlap=sum(len(set(a) & set(b)) for a, b in zip(top_b, top_s, strict=True)),
            )
        )
    return rows


def _comparisons(base: Any, subj: Any, windows: list[TokenWindow]) -> list[WindowComparison]:
    pairs = list(base.score_pair(subj, windows))
    assert all(p.comparison is not None for p in pairs)
    return [p.comparison for p in pairs]


def test_an_identical_subject_has_zero_kl_and_full_agreement(demo_model: Any, windows: list[TokenWindow]) -> None:
    twin = HFCausalModel(copy.deepcopy(demo_model.module), demo_model.tokenizer().inner, ref="twin")
    for m in _comparisons(demo_model, twin, windows):
        assert (m.kl_sum, m.kl_max, m.positions) == (0.0, 0.0, SEQ_LEN - 1)
        assert m.top1_agree == m.positions and m.top5_overlap == 5 * m.positions
        assert m.kl_histogram is not None and m.kl_histogram[0] == m.positions


@pytest.mark.parametrize("bits", [8, 4])
def test_each_windows_measures_match_a_direct_float64_computation(
    demo_model: Any, windows: list[TokenWindow], request: pytest.FixtureRequest, bits: int
) -> None:
    subject = request.getfixturevalue(f"int{bits}")
    ours = _comparisons(demo_model, subject, windows)
    reference = _reference(demo_model.module, subject.module, windows, demo_model.batch_size)
    for a, b in zip(ours, reference, strict=True):
        assert a.kl_sum == pytest.approx(b.kl_sum, rel=1e-9) and a.kl_max == pytest.approx(b.kl_max, rel=1e-9)
        assert (a.window_id, a.positions, a.kl_histogram) == (b.window_id, b.positions, b.kl_histogram)
        assert (a.top1_agree, a.top5_overlap) == (b.top1_agree, b.top5_overlap)


def test_int4_moves_the_distribution_much_more_than_int8(
    demo_model: Any, windows: list[TokenWindow], int8: HFCausalModel, int4: HFCausalModel
) -> None:
    small, large = _comparisons(demo_model, int8, windows), _comparisons(demo_model, int4, windows)
    kl8, kl4 = (sum(m.kl_sum for m in rows) for rows in (small, large))  # type: ignore[misc]
    top8, top4 = (sum(m.top1_agree for m in rows) for rows in (small, large))  # type: ignore[misc]
    assert 0.0 < kl8 < kl4 / 10
    assert top8 > top4
    assert all(m.kl_max > 0 for m in small)


@pytest.mark.parametrize("vocab", [64 * 40, 64 * 40 + 3])
def test_the_blockwise_top5_is_torch_topk(vocab: int) -> None:
    import torch
    from invarlock.adapters.hf_kl import _top

    logits = torch.randn((37, vocab), generator=torch.Generator().manual_seed(vocab)) * 4
    assert torch.equal(_top(logits), logits.topk(5, dim=-1).indices)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_kernels_top5_with_torchs_for_ties_is_the_blockwise_top5(dtype: str) -> None:
    """paired_score takes each row's top-5 from the logit-row kernel where its six largest logits are distinct
    and from _top where they tie (common in bfloat16): the same indices, row for row, as _top alone."""
    import numpy as np
    import torch
    from invarlock.adapters.hf_kl import _exact_top, _top
    from invarlock.adapters.logit_rows import pair_stats_top

    logits = (torch.randn((40, 64 * 40 + 3), generator=torch.Generator().manual_seed(5)) * 4).to(getattr(torch, dtype))
    logits[3, 11] = logits[3].max()  # a tie at the top in float32 too
    rows = logits.float().numpy()
    _, found = pair_stats_top(rows, rows)
    ties = int((found[:, 0, 0] < 0).sum())
    assert ties >= 1 and (ties > 10 if dtype == "bfloat16" else ties < 5)
    assert torch.equal(_exact_top(logits, found[:, 0]), _top(logits))
    assert np.array_equal(found[found[:, 0, 0] >= 0, 0], _top(logits)[found[:, 0, 0] >= 0].numpy())
