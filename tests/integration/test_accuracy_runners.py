"""The two accuracy runners: zero-shot label scoring of the real demo model on real polarity sentences, and the
mechanics of a sequence-classification head on a tiny RANDOMLY INITIALISED GPT-2 (its predictions mean nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import torch
from invarlock.adapters.corpus_resolver import LocalCorpusResolver
from invarlock.adapters.hf_loader import HFModelLoader
from invarlock.adapters.hf_zero_shot import continuation_nll
from invarlock.adapters.quant_rtn import QuantRTNEdit
from invarlock.application.certification.example_planning import plan_labelled
from invarlock.application.config import DatasetConfig, MetricConfig
from invarlock.domain.errors import UsageError
from invarlock.domain.examples import LabelledText
from invarlock.domain.model import LoadOptions

from tests.fakes.corpus import InMemoryCorpusResolver
from tests.integration.tiny_models import SENTENCES, make_tiny_tokenizer

pytestmark = pytest.mark.hf

ZERO_SHOT = MetricConfig(kind="accuracy", template="Review: {text}\nSentiment:", label_words=[" negative", " positive"])


def _polarity_windows(model: Any, n: int) -> list[Any]:
    ds = DatasetConfig(provider="demo:polarity", seq_len=96, preview_n=n // 2, final_n=n - n // 2, calibration_n=0)
    labelled = LocalCorpusResolver().open_labelled("demo:polarity")
    _, windows = plan_labelled(labelled, model.tokenizer(), ds, ZERO_SHOT, allow_fewer=False)
    return [windows[i] for i in sorted(windows)]


def test_zero_shot_predictions_are_the_argmax_of_each_label_words_log_likelihood_from_direct_forwards(demo_model):
    windows = _polarity_windows(demo_model, 6)
    pairs = list(demo_model.score_pair(demo_model, windows))
    for w, p in zip(windows, pairs, strict=True):
        scores = []
        for cand in w.candidates:
            ids = torch.tensor([w.tokens + cand])
            with torch.inference_mode():
                logp = torch.log_softmax(demo_model.module(input_ids=ids).logits[0].double(), dim=-1)
            scores.append(sum(float(logp[len(w.tokens) - 1 + j, t]) for j, t in enumerate(cand)))
        assert p.baseline is None and p.subject is None and p.comparison is not None
        assert p.comparison.label == w.label and p.comparison.positions == 1
        assert p.comparison.baseline_pred == p.comparison.subject_pred == int(np.argmax(scores))
    forward = demo_model._masked_logits
    padded = continuation_nll(forward, windows, batch_size=4)
    alone = np.vstack([continuation_nll(forward, [w], batch_size=1) for w in windows])
    np.testing.assert_allclose(padded, alone, rtol=1e-4)  # right padding under the mask changes nothing but rounding


def _tiny_classifier_dir(path: Path) -> Path:
    """A tiny random GPT2ForSequenceClassification with 2 labels, saved with its tokenizer."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    tokenizer = make_tiny_tokenizer()
    torch.manual_seed(0)
    eos = tokenizer.eos_token_id
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2, num_labels=2)
    config.pad_token_id = eos
    GPT2ForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_tiny_random_classification_head_predicts_the_argmax_of_its_logits_for_both_models_in_lockstep(tmp_path):
    directory = _tiny_classifier_dir(tmp_path / "tiny_random_seqcls")
    loader = HFModelLoader()
    baseline = loader.load(str(directory), LoadOptions(adapter="hf_seqcls", device="cpu"))
    subject = loader.load(str(directory), LoadOptions(adapter="hf_seqcls", device="cpu"))
    texts = [LabelledText(text=s, label="pos" if i % 2 else "neg") for i, s in enumerate(SENTENCES)]
    resolver = InMemoryCorpusResolver(corpora={}, labelled={"tiny": texts})
    ds = DatasetConfig(provider="tiny", seq_len=64, preview_n=3, final_n=5, calibration_n=0)
    labelled = resolver.open_labelled("tiny", path=None, text_field="text", label_field="label", split="v")
    _, windows = plan_labelled(labelled, baseline.tokenizer(), ds, MetricConfig(kind="accuracy"), allow_fewer=False)
    batch = [windows[i] for i in sorted(windows)]
    assert all(w.candidates is None for w in batch)
    same = list(baseline.score_pair(subject, batch))
    assert all(p.comparison.baseline_pred == p.comparison.subject_pred for p in same)
    for w, p in zip(batch, same, strict=True):
        with torch.inference_mode():
            logits = baseline.module(input_ids=torch.tensor([w.tokens])).logits[0]
        assert p.comparison.baseline_pred == int(torch.argmax(logits)) and p.comparison.label == w.label
    QuantRTNEdit().apply(subject, {"bits": 4, "scope": "all"})
    edited = list(baseline.score_pair(subject, batch))
    assert [p.comparison.baseline_pred for p in edited] == [p.comparison.baseline_pred for p in same]
    for w, p in zip(batch, edited, strict=True):
        with torch.inference_mode():
            logits = subject.module(input_ids=torch.tensor([w.tokens])).logits[0]
        assert p.comparison.subject_pred == int(torch.argmax(logits))
    assert baseline.identity().adapter == "hf_seqcls"
    with pytest.raises(UsageError) as err:
        list(baseline.score(batch))
    assert err.value.code == "E104"


def test_a_head_with_fewer_outputs_than_the_dataset_has_labels_is_e201(tmp_path):
    directory = _tiny_classifier_dir(tmp_path / "tiny_random_seqcls")
    model = HFModelLoader().load(str(directory), LoadOptions(adapter="hf_seqcls", device="cpu"))
    window = msgspec.structs.replace(_first(model), label=2)
    with pytest.raises(UsageError) as err:
        list(model.score_pair(model, [window]))
    assert err.value.code == "E201" and "2 labels" in err.value.message


def _first(model: Any) -> Any:
    from invarlock.domain.windows import TokenWindow

    return TokenWindow(window_id=0, tokens=tuple(model.tokenizer().encode(SENTENCES[0])), label=0)
