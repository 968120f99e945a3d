"""The two implementations of the per-window reductions agree: the CPU path (logit_rows: float64 partition sums
and KL in one pass per row) and the torch path a GPU or float64 logits take (hf_nll._device_window_nll,
hf_kl.window_comparison), run here on CPU tensors. They round differently, so the figures agree to their
precision (the torch NLL sums its partition in float32), and the integer measures exactly."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from invarlock.adapters import hf_kl, hf_nll  # noqa: E402
from invarlock.domain.windows import TokenWindow  # noqa: E402

pytestmark = pytest.mark.hf

VOCAB = 49_152


def _window(rows: int, seed: int, closeness: float) -> tuple[TokenWindow, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(rows, VOCAB, generator=gen) * 4
    subj = base + torch.randn(rows, VOCAB, generator=gen) * closeness
    ids = torch.randint(0, VOCAB, (rows + 1,), generator=gen)
    return TokenWindow(window_id=seed, tokens=tuple(ids.tolist())), ids, base, subj


@pytest.mark.parametrize("closeness", [0.3, 0.01])
def test_the_cpu_kernel_and_the_torch_path_agree(closeness: float) -> None:
    window, ids, base, subj = _window(67, 3, closeness)
    pair = hf_kl.paired_score(window, ids, base, subj)
    torch_path = hf_kl.window_comparison(window.window_id, base, subj)
    assert pair.comparison is not None and pair.baseline is not None and pair.subject is not None
    assert pair.comparison.kl_sum == pytest.approx(torch_path.kl_sum, rel=1e-10)
    assert pair.comparison.kl_max == pytest.approx(torch_path.kl_max, rel=1e-10)
    assert (pair.comparison.top1_agree, pair.comparison.top5_overlap) == (
        torch_path.top1_agree,
        torch_path.top5_overlap,
    )
    assert pair.comparison.kl_histogram == torch_path.kl_histogram
    for score, logits in ((pair.baseline, base), (pair.subject, subj)):
        device_sum = hf_nll._device_window_nll(logits, ids[1:], window.window_id)
        assert score.nll_sum == pytest.approx(device_sum, rel=1e-6)


def test_float64_logits_take_the_torch_path_and_keep_their_precision() -> None:
    window, ids, base, _ = _window(9, 5, 0.1)
    wide = base.double()
    assert hf_nll.kernel_rows(wide) is None
    exact = float((torch.logsumexp(wide, -1) - wide.gather(-1, ids[1:, None]).squeeze(-1)).sum())
    assert hf_nll.window_nll(wide, ids[1:], window.window_id) == pytest.approx(exact, rel=1e-14)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_logit_is_e402_on_both_paths(bad: float) -> None:
    from invarlock.domain.errors import AbortError

    window, ids, base, subj = _window(5, 7, 0.1)
    subj[2, 11] = bad
    with pytest.raises(AbortError, match="non-finite token loss in window 7"):
        hf_kl.paired_score(window, ids, base, subj)
    with pytest.raises(AbortError, match="non-finite"):
        hf_nll.window_nll(subj, ids[1:], window.window_id)
    with pytest.raises(AbortError, match="non-finite"):
        hf_nll._device_window_nll(subj, ids[1:], window.window_id)
