"""Labelled sets for `accuracy` on real data (Pang & Lee polarity in gensim 4.4.0's test data) and local JSONL,
their planning into example windows, and the config rules of the accuracy kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invarlock.adapters.corpus_resolver import LocalCorpusResolver
from invarlock.application.certification.example_planning import plan_labelled
from invarlock.application.config import DatasetConfig, MetricConfig, parse_config
from invarlock.domain.errors import UsageError
from invarlock.domain.examples import render_prompt

from tests.fakes.models import FakeTokenizer

resolver = LocalCorpusResolver()


def _open(provider: str, path: Path | None = None, label_field: str = "label"):
    where = str(path) if path else None
    return resolver.open_labelled(provider, path=where, text_field="text", label_field=label_field, split="validation")


def test_demo_polarity_is_the_200_pang_and_lee_sentences_with_balanced_labels_in_file_order() -> None:
    labelled = _open("demo:polarity")
    examples = list(labelled.examples())
    assert len(examples) == 200 and [e.label for e in examples].count("neg") == 100
    assert {e.label for e in examples} == {"neg", "pos"} and examples[0].label == "neg" and examples[-1].label == "pos"
    assert all(e.text.strip() == e.text and e.text for e in examples)
    assert list(labelled.examples()) == examples
    info = labelled.info()
    assert info.provider == "demo:polarity" and "Pang & Lee" in info.licence and info.source.endswith(".cor")


def test_a_jsonl_labelled_set_takes_the_configured_label_field_and_integer_labels(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    rows = [{"text": "good film", "y": 1}, {"text": "bad film", "y": 0}, {"text": "fine", "y": "1"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    examples = list(_open("jsonl", path, label_field="y").examples())
    assert [(e.text, e.label) for e in examples] == [("good film", "1"), ("bad film", "0"), ("fine", "1")]


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"text": "x"}', "no label in field 'label'"),
        ('{"label": "a"}', "'text'"),
        ('{"text": "x", "label": true}', "label"),
    ],
)
def test_a_jsonl_line_without_text_or_label_is_e301_naming_the_line(tmp_path: Path, line: str, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(UsageError) as err:
        _open("jsonl", path)
    assert err.value.code == "E301" and "line 1" in err.value.message and needle in err.value.message


def test_a_text_corpus_is_not_a_labelled_set_and_an_empty_file_has_no_examples(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        _open("demo:wikipedia")
    assert err.value.code == "E301" and "demo:polarity" in err.value.hint
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(UsageError) as err:
        _open("jsonl", empty)
    assert err.value.code == "E304"


METRIC = MetricConfig(kind="accuracy", template="Review: {text}\nSentiment:", label_words=[" negative", " positive"])


def test_polarity_plans_into_disjoint_example_arms_whose_windows_carry_label_and_label_word_ids() -> None:
    tokenizer = FakeTokenizer()
    ds = DatasetConfig(provider="demo:polarity", seq_len=512, preview_n=80, final_n=120, calibration_n=0)
    planned, windows = plan_labelled(_open("demo:polarity"), tokenizer, ds, METRIC, allow_fewer=False)
    plan = planned.plan
    assert (len(plan.arm("preview")), len(plan.arm("final")), plan.windows_available) == (80, 120, 200)
    examples = list(_open("demo:polarity").examples())
    for w in plan.windows[:5]:
        ex, window = examples[w.window_id], windows[w.window_id]
        assert window.tokens == tuple(tokenizer.encode(render_prompt(METRIC.template or "", ex.text)))
        assert window.label == ("neg", "pos").index(ex.label)
        assert window.candidates == tuple(tuple(tokenizer.encode(word)) for word in METRIC.label_words or [])
    assert planned.corpus.provider == "demo:polarity"


def test_label_words_must_be_one_per_label() -> None:
    three = MetricConfig(kind="accuracy", template="{text}", label_words=[" a", " b", " c"])
    ds = DatasetConfig(provider="demo:polarity", seq_len=512, preview_n=80, final_n=120, calibration_n=0)
    with pytest.raises(UsageError) as err:
        plan_labelled(_open("demo:polarity"), FakeTokenizer(), ds, three, allow_fewer=False)
    assert err.value.code == "E201" and "2 labels (neg, pos)" in err.value.message


@pytest.mark.parametrize(
    ("metric", "dataset", "needle"),
    [
        ({"kind": "accuracy", "template": "{text}"}, {"calibration_n": 0}, "template and at least 2"),
        ({"kind": "accuracy"}, {}, "calibration_n: 0"),
        ({"kind": "ppl_causal", "label_words": [" a", " b"]}, {}, "need kind accuracy"),
        ({"template": "{text}"}, {}, "kind"),
    ],
)
def test_the_config_rules_of_the_accuracy_kind_are_e201(metric: dict, dataset: dict, needle: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_config({"eval": {"metric": metric}, "dataset": dataset}, source="c.yaml")
    assert err.value.code == "E201" and needle in err.value.message


def test_an_accuracy_config_records_only_the_keys_it_sets() -> None:
    cfg = parse_config(
        {
            "eval": {"metric": {"kind": "accuracy"}},
            "dataset": {"calibration_n": 0},
            "guards": {"order": ["invariants", "invariants"]},
        },
        source="c.yaml",
    )
    assert cfg.eval.metric.template is None
    from invarlock.application.config import config_to_dict

    assert config_to_dict(cfg)["eval"]["metric"] == {"kind": "accuracy"}
    assert config_to_dict(parse_config({}, source="d.yaml"))["eval"]["metric"] == {"kind": "ppl_causal"}


PRESETS = Path(__file__).resolve().parents[2] / "configs" / "presets" / "classification"


@pytest.mark.parametrize("name", ["polarity_quant_rtn_int8.yaml", "polarity_quant_rtn_int4.yaml"])
def test_the_classification_presets_are_valid_accuracy_configs(name: str) -> None:
    import yaml

    cfg = parse_config(yaml.safe_load((PRESETS / name).read_text(encoding="utf-8")), source=name)
    assert cfg.eval.metric.kind == "accuracy" and cfg.dataset.provider == "demo:polarity"
    assert cfg.dataset.preview_n + cfg.dataset.final_n <= 200
