"""Per-window NLL sums of half-precision models: the partition sum is accumulated in float32 (not in the
logits' bf16), so they agree with a float64 log-softmax of the same logits within a stated bound."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from invarlock.domain.model import LoadOptions
from invarlock.domain.windows import TokenWindow

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.hf

SEQ_LEN, WINDOWS = 64, 8


def bound(tokens: int, vocab: int) -> float:
    """Worst case |ours − float64| of a window sum, in nats: per token the float32 partition sum of V terms
    exp(x − max) ≥ 1 (each within an ulp, 2⁻²³, and summed in any order) is within (V + 2)·2⁻²⁴ relative of the
    exact sum, which moves its log by at most that much; the float64 parts add rounding far below it."""
    return tokens * (vocab + 2) * 2.0**-24


def _float64_reference(logits: Any, targets: Any) -> float:
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    return -float(log_probs.gather(-1, targets[:, None]).sum())


def _windows(vocab: int, seed: int) -> list[TokenWindow]:
    rng = np.random.default_rng(seed)
    return [
        TokenWindow(window_id=i, tokens=tuple(int(t) for t in rng.integers(0, vocab, SEQ_LEN))) for i in range(WINDOWS)
    ]


@pytest.fixture
def tiny_bf16(tiny_random_gpt2_dir: Path) -> Any:
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().load(str(tiny_random_gpt2_dir), LoadOptions(adapter="auto", device="cpu", dtype="bfloat16"))


def test_bf16_window_nlls_agree_with_a_float64_log_softmax_of_the_same_logits(tiny_bf16: Any) -> None:
    vocab = tiny_bf16.module.config.vocab_size
    windows = _windows(vocab, seed=1)
    ours = list(tiny_bf16.score(windows))  # one batch of 8, as the reference below
    ids = torch.tensor([w.tokens for w in windows])
    with torch.inference_mode():
        logits = tiny_bf16.module(input_ids=ids, use_cache=False).logits
    assert logits.dtype == torch.bfloat16
    limit = bound(SEQ_LEN - 1, vocab)
    worst = 0.0
    for i, score in enumerate(ours):
        reference = _float64_reference(logits[i, :-1], ids[i, 1:])
        worst = max(worst, abs(score.nll_sum - reference))
    assert worst <= limit
    # The bound has teeth: summing the partition in bf16, as before, misses it on this model.
    bf16_sum = max(
        abs(_bf16_accumulated(logits[i, :-1], ids[i, 1:]) - _float64_reference(logits[i, :-1], ids[i, 1:]))
        for i in range(WINDOWS)
    )
    assert bf16_sum > limit > worst


def _bf16_accumulated(logits: Any, targets: Any) -> float:
    peak = logits.amax(dim=-1, keepdim=True)
    partition = torch.sub(logits, peak).exp().sum(dim=-1)  # stays bf16: the old scratch dtype
    target = logits.gather(-1, targets[:, None]).squeeze(-1).double()
    return float((peak.squeeze(-1).double() + torch.log(partition.double()) - target).sum())


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_logits_over_a_large_vocabulary_stay_within_the_bound(dtype: str) -> None:
    from invarlock.adapters.hf_nll import accumulation_dtype, window_nll

    vocab, tokens = 49_152, 127
    generator = torch.Generator().manual_seed(3)
    logits = (4.0 * torch.randn((tokens, vocab), generator=generator)).to(getattr(torch, dtype))
    targets = torch.randint(0, vocab, (tokens,), generator=generator)
    assert accumulation_dtype(logits.dtype) == torch.float32
    ours = window_nll(logits, targets, window_id=0)
    assert abs(ours - _float64_reference(logits, targets)) <= bound(tokens, vocab)
    assert math.isfinite(ours)


def test_float32_and_float64_logits_keep_their_own_accumulation_dtype() -> None:
    from invarlock.adapters.hf_nll import accumulation_dtype

    assert accumulation_dtype(torch.float32) == torch.float32
    assert accumulation_dtype(torch.float64) == torch.float64
