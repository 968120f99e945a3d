"""Every scoring pass of the masked-LM and encoder adapters holds a full batch, as the causal one does: a partial
batch (an arm's last, the audit's sample) is padded with its own windows and their outputs dropped, because a
CPU kernel may give a row other bits in a pass of fewer rows (window_batches.token_ids). The activation taps, which sum
every row of a pass, are not padded. On a TINY RANDOMLY INITIALISED BERT (mechanics only)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from invarlock.domain.model import LoadOptions
from invarlock.domain.windows import TokenWindow

from tests.integration.tiny_models import SENTENCES, make_tiny_bert_mlm_dir

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

BATCH = 4


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert_mlm_dir(tmp_path_factory.mktemp("tiny_random_bert_full_batches"))


def _load(path: Path, adapter: str) -> Any:
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().load(str(path), LoadOptions(adapter=adapter, device="cpu", batch_size=BATCH))


def _windows(model: Any, count: int) -> list[TokenWindow]:
    ids = model.tokenizer().encode(" ".join(SENTENCES) * 4)
    return [TokenWindow(window_id=k, tokens=tuple(ids[k * 16 : (k + 1) * 16]), mask_seed=3) for k in range(count)]


def _pass_rows(model: Any) -> list[int]:
    """The row count of every forward pass `model` runs from now on."""
    rows: list[int] = []
    model.module.register_forward_pre_hook(lambda _m, _a, kw: rows.append(kw["input_ids"].shape[0]), with_kwargs=True)
    return rows


def test_masked_lm_passes_are_padded_to_the_batch_and_taps_are_not(bert_dir: Path) -> None:
    model = _load(bert_dir, "hf_mlm")
    other = type(model)(copy.deepcopy(model.module), model.tokenizer().inner, ref=model.ref, batch_size=BATCH)
    mine, theirs = _pass_rows(model), _pass_rows(other)
    windows = _windows(model, 5)
    scores = list(model.score(windows))
    assert [s.window_id for s in scores] == [0, 1, 2, 3, 4] and mine == [BATCH, BATCH]
    pairs = list(model.score_pair(other, windows))
    assert [p.baseline.nll_sum for p in pairs] == [s.nll_sum for s in scores]  # same passes, same bits
    assert mine[2:] == [BATCH, BATCH] and theirs == [BATCH, BATCH]
    weights = [m.name for m in model.matrices()][-1:]
    model.activation_stats(windows, weights)
    assert mine[4:] == [BATCH, 1]


def test_encoder_passes_are_padded_to_the_batch(bert_dir: Path) -> None:
    model = _load(bert_dir, "hf_encoder")
    other = _load(bert_dir, "hf_encoder")
    mine, theirs = _pass_rows(model), _pass_rows(other)
    pairs = list(model.score_pair(other, _windows(model, 5)))
    assert [p.window_id for p in pairs] == [0, 1, 2, 3, 4] and mine == theirs == [BATCH, BATCH]
    assert all(p.comparison is not None and p.comparison.cosine == pytest.approx(1.0) for p in pairs)


def test_a_caller_between_two_masked_lm_scores_is_not_left_in_inference_mode(bert_dir: Path) -> None:
    model = _load(bert_dir, "hf_mlm")
    scores = model.score(_windows(model, 5))
    next(scores)  # the generator is suspended mid-batch, as a consumer recording each score sees it
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()
    scores.close()
