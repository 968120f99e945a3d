"""InvarLock 0.3.7 configs: keys translated to ours before the strict decode, refused ones named with our
equivalent, thresholds accepted only as the tier's own values, and did-you-mean suggestions for typos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from invarlock.application.config import config_to_dict, parse_config
from invarlock.application.config_upstream import translate_upstream
from invarlock.domain.errors import UsageError
from invarlock.domain.policy import resolve_policy

ROOT = Path(__file__).parents[2]
UPSTREAM = ROOT / "tests" / "fixtures" / "upstream_0_3_7"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((UPSTREAM / name).read_text(encoding="utf-8"))
    return data


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(UsageError) as caught:
        parse_config(data, source="c.yaml")
    line = caught.value.one_line()
    assert caught.value.code == "E201" and "\n" not in line and " — " in line
    return line


def test_readme_minimal_config_becomes_ours_and_its_thresholds_are_the_balanced_tiers() -> None:
    cfg = parse_config(load("minimal.yaml"), source="minimal.yaml")
    ours = config_to_dict(cfg)

    assert ours["model"] == {"id": "gpt2", "adapter": "hf_causal", "device": "cpu", "dtype": "float32"}
    assert ours["edit"] == {"name": "quant_rtn", "plan": {"bits": 8, "scope": "attn"}}
    assert ours["eval"]["metric"] == {"kind": "ppl_causal"} and ours["output"] == {"dir": "runs"}
    variance = {
        "targets": "changed",
        "deadband": 0.02,
        "min_abs_adjust": 0.012,
        "max_scale_step": 0.03,
        "sided": "one",
        "min_effect": 0.0009,
    }
    assert ours["guards"]["variance"] == variance
    policy = resolve_policy("balanced", "ci", guard_overrides=cfg.guards.overrides())
    assert policy.guards == resolve_policy("balanced", "ci").guards  # the stated values are the tier's
    assert policy.overrides["guards"]["variance"] == variance  # ... and recorded as stated
    assert parse_config(ours, source="replayed") == cfg  # a recorded config re-parses unchanged


def test_a_stated_threshold_of_another_tier_is_refused_naming_both_values() -> None:
    cfg = parse_config(load("minimal.yaml"), source="minimal.yaml")
    with pytest.raises(UsageError) as caught:
        resolve_policy("conservative", "ci", guard_overrides=cfg.guards.overrides())
    assert caught.value.code == "E202"
    assert "guards.variance.sided = 'one' differs from the conservative tier's 'two'" in caught.value.one_line()


def test_full_preset_and_edit_overlay_translate() -> None:
    cfg = parse_config(load("preset_local_jsonl.yaml"), source="preset.yaml")
    overlay = parse_config(load("quant_rtn_8bit_attn.yaml"), source="overlay.yaml")

    assert (cfg.dataset.provider, cfg.dataset.file, cfg.model.dtype, cfg.edit) == (
        "jsonl",
        "corpus.jsonl",
        "float32",
        None,
    )
    assert cfg.guards.rmt == {"mode": "monitor", "epsilon": {"ffn": 0.10, "attn": 0.08, "embed": 0.12, "other": 0.12}}
    assert cfg.guards.spectral == {"mode": "monitor", "correction": "bh", "alpha": 0.05, "deadband": 0.10}
    assert overlay.edit is not None and overlay.edit.plan == {
        "bits": 8,
        "group_size": 128,
        "clamp_ratio": 0.005,
        "scope": "attn",
        "max_modules": 12,
    }
    assert resolve_policy("balanced", "dev", guard_overrides=cfg.guards.overrides()).guards == (
        resolve_policy("balanced", "dev").guards
    )


@pytest.mark.parametrize(
    ("upstream", "ours"),
    [
        ({"model": {"adapter": "hf_auto", "torch_dtype": "bf16", "device": "cuda:0"}}, ("model", "adapter", "auto")),
        ({"model": {"torch_dtype": "half"}}, ("model", "dtype", "float16")),
        ({"model": {"device": "cuda:0"}}, ("model", "device", "cuda")),
        ({"dataset": {"provider": "local_jsonl", "data_files": ["a.jsonl"]}}, ("dataset", "path", "a.jsonl")),
        (
            {"dataset": {"provider": "jsonl", "data_files": "a.jsonl", "path": "a.jsonl"}},
            ("dataset", "path", "a.jsonl"),
        ),
        ({"eval": {"loss": {"type": "mlm"}}}, ("eval", "metric", {"kind": "ppl_mlm"})),
        (
            {"dataset": {"provider": "hf_text", "dataset_name": "wikitext", "config_name": "wikitext-2-raw-v1"}},
            ("dataset", "config", "wikitext-2-raw-v1"),
        ),
        ({"dataset": {"provider": "hf_text", "dataset_name": "wikitext"}}, ("dataset", "provider", "hf")),
        ({"auto": {"enabled": True, "probes": 0, "tier": "aggressive"}}, ("auto", "tier", "aggressive")),
        ({"output": {"dir": "x", "save_model": False, "save_report": True}}, ("output", "dir", "x")),
    ],
)
def test_upstream_keys_are_translated(upstream: dict[str, Any], ours: tuple[str, str, object]) -> None:
    section, key, value = ours
    assert translate_upstream(upstream, "c.yaml")[section][key] == value
    parse_config(upstream, source="c.yaml")


@pytest.mark.parametrize(
    ("plan", "scope"),
    [
        ({"bitwidth": 8}, "ffn"),  # 0.3.7's RTNQuantEdit defaulted to the FFN weights (the edits hunt: all were taken)
        ({"bits": 8, "per_channel": True}, "ffn"),
        ({"bits": 8, "seed": 42}, "ffn"),
        ({"bitwidth": 8, "scope": "attn"}, "attn"),
        ({"bits": 8}, None),  # this tool's plan: its own default, all, applies when the plan is resolved
    ],
)
def test_a_plan_in_0_3_7_form_without_a_scope_keeps_0_3_7_s_default(plan: dict[str, Any], scope: str | None) -> None:
    config = {"edit": {"name": "quant_rtn", "plan": plan}}
    assert translate_upstream(config, "c.yaml")["edit"]["plan"].get("scope") == scope
    translated = parse_config(config, source="c.yaml")
    assert translated.edit is not None and parse_config(config_to_dict(translated), source="again") == translated


@pytest.mark.parametrize(
    ("upstream", "named", "instead"),
    [
        ({"assurance": {"mode": "x"}}, "assurance", "auto.tier"),
        ({"model": {"adapter": "hf_gptq"}}, "model.adapter 'hf_gptq'", "dequantized"),
        ({"model": {"trust_remote_code": True}}, "model.trust_remote_code", "false"),
        ({"dataset": {"provider": "synthetic"}}, "dataset.provider 'synthetic'", "demo:wikipedia"),
        ({"dataset": {"max_samples": 2000}}, "dataset.max_samples", "dataset.path"),
        ({"dataset": {"data_files": "*.jsonl"}}, "dataset.data_files", "dataset.path"),
        # the configs hunt: with path given too, data_files was dropped without a word; null read "None names several"
        ({"dataset": {"data_files": "a.jsonl", "path": "b.txt"}}, "dataset.data_files (InvarLock 0.3.7) and", "path"),
        ({"dataset": {"data_files": None}}, "dataset.data_files (InvarLock 0.3.7) must name one file", "path"),
        ({"dataset": {"data_files": ["a.jsonl", "b.jsonl"]}}, "dataset.data_files names several files", "path"),
        ({"edit": {"name": "quant_rtn", "plan": {"bits": 8, "per_channel": False}}}, "per_channel", "output channel"),
        ({"edit": {"name": "quant_rtn", "plan": {"bits": 8, "bitwidth": 4}}}, "edit.plan.bitwidth", "edit.plan.bits"),
        # the edits hunt: 1.5 and "x" read "edit.plan.seed is not a quant_rtn key"; true was dropped without a word
        (
            {"edit": {"name": "quant_rtn", "plan": {"bits": 8, "seed": 1.5}}},
            "edit.plan.seed (InvarLock 0.3.7) is",
            "remove",
        ),
        ({"edit": {"name": "quant_rtn", "plan": {"bits": 8, "seed": True}}}, "is True, not an integer", "remove"),
        # the edits hunt: a noop edit's plan or other keys were dropped without a word
        ({"edit": {"name": "noop", "plan": {"bitwidth": 8}}}, "edit.plan is given with edit.name noop", "quant_rtn"),
        ({"edit": {"name": "noop", "junk": 1}}, "edit.junk is given with edit.name noop", "remove it"),
        ({"eval": {"metric": {"kind": "auto"}}}, "eval.metric.kind 'auto'", "ppl_causal"),
        ({"eval": {"metric": {"kind": "ppl_causal", "reps": 3}}}, "eval.metric.reps", "replicates"),
        ({"eval": {"loss": {"type": "seq2seq"}}}, "'seq2seq' (InvarLock 0.3.7) has no metric kind", "metric.kind"),
        ({"eval": {"loss": {"type": "causal", "mask_prob": 0.2}}}, "eval.loss", "masking"),
        ({"eval": {"bootstrap": {"replicates": 100}}}, "eval.bootstrap", "--profile"),
        ({"auto": {"enabled": False}}, "auto.enabled", "always resolved"),
        ({"auto": {"target_pm_ratio": 1.2}}, "auto.target_pm_ratio", "auto.tier"),
        ({"output": {"save_model": True}}, "output.save_model", "--export"),
        ({"guards": {"spectral": {"family_caps": {"ffn": 2.5}}}}, "guards.spectral.family_caps", "spectral.alpha"),
        ({"guards": {"spectral": {"multiple_testing": {"m": 4}}}}, "multiple_testing.m", "tested matrices"),
        ({"guards": {"rmt": {"epsilon": 0.1}}}, "guards.rmt.epsilon 0.1", "attn: .."),
        ({"guards": {"rmt": {"margin": 1.5}}}, "guards.rmt.margin", "guards.rmt.epsilon"),
        ({"guards": {"variance": {"tap": "transformer.h.*.attn"}}}, "guards.variance.tap", "FFN output"),
        ({"guards": {"variance": {"max_calib": 320}}}, "guards.variance.max_calib", "guards.variance"),
        # the configs hunt (stop 71): "yes", 1 or "on" were read as two-sided; a pinned pair that disagreed dropped
        # one value unsaid, and only the other was checked against the tier
        ({"guards": {"variance": {"predictive_one_sided": "yes"}}}, "'yes' is not a boolean", "true or false"),
        ({"guards": {"variance": {"predictive_one_sided": 1}}}, "predictive_one_sided 1 is not", "true or false"),
        (
            {"guards": {"variance": {"sided": "two", "predictive_one_sided": True}}},
            "guards.variance.predictive_one_sided and guards.variance.sided disagree",
            "keep only guards.variance.sided",
        ),
        (
            {"guards": {"spectral": {"alpha": 0.5, "multiple_testing": {"method": "bh", "alpha": 0.05}}}},
            "guards.spectral.multiple_testing.alpha and guards.spectral.alpha disagree",
            "guards.spectral.alpha",
        ),
        (
            {"guards": {"spectral": {"correction": "bonferroni", "multiple_testing": {"method": "bh"}}}},
            "multiple_testing.method and guards.spectral.correction disagree",
            "guards.spectral.correction",
        ),
    ],
)
def test_upstream_keys_without_an_equivalent_are_refused_naming_ours(
    upstream: dict[str, Any], named: str, instead: str
) -> None:
    line = error_of(upstream)
    assert named in line and instead in line.split(" — ")[1]


@pytest.mark.parametrize(
    ("config", "key", "suggestion"),
    [
        ({"dataset": {"seqlen": 128}}, "dataset.seqlen", "seq_len"),
        ({"datset": {}}, "datset", "dataset"),
        ({"model": {"devce": "cpu"}}, "model.devce", "device"),
        ({"edit": {"name": "quant_rtn", "plam": {}}}, "edit.plam", "plan"),
        ({"eval": {"metrc": {}}}, "eval.metrc", "metric"),
        ({"eval": {"metric": {"knd": "ppl_causal"}}}, "eval.metric.knd", "kind"),
        ({"eval": {"secondary": {"gat": True}}}, "eval.secondary.gat", "gate"),
        ({"guards": {"ordr": []}}, "guards.ordr", "order"),
        ({"auto": {"teir": "balanced"}}, "auto.teir", "tier"),
        ({"output": {"dri": "x"}}, "output.dri", "dir"),
    ],
)
def test_a_typo_names_the_key_and_the_closest_one_in_its_section(
    config: dict[str, Any], key: str, suggestion: str
) -> None:
    assert error_of(config).endswith(f"unknown key '{key}' — did you mean {suggestion}?")


def test_an_unknown_key_far_from_any_lists_its_sections_keys() -> None:
    line = error_of({"auto": {"zzz": 1}})
    assert line.endswith("unknown key 'auto.zzz' — keys of auto: tier")


def test_a_guard_setting_typo_gets_a_suggestion_from_the_policy() -> None:
    with pytest.raises(UsageError) as caught:
        resolve_policy("balanced", "ci", guard_overrides={"spectral": {"deadbnd": 0.1}})
    assert caught.value.one_line().endswith("guards.spectral.deadbnd cannot be set — did you mean deadband?")


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "presets").rglob("*.yaml")), ids=lambda p: p.name)
def test_translation_leaves_our_own_configs_unchanged(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert translate_upstream(data, str(path)) == data


@pytest.mark.parametrize(
    ("config", "said", "fix"),
    [
        ({"model": {"torch_dtype": ["fp16"]}}, "model.torch_dtype must be text, not a list", "fix model.torch_dtype"),
        ({"dataset": {"dataset_name": 3}}, "dataset.dataset_name must be text", "fix dataset.dataset_name"),
        ({"guards": {"rmt": {"epsilon_by_family": "x"}}}, "guards.rmt.epsilon_by_family 'x' is one number", "give"),
        ({"model": {"dtype": ["fp16"]}}, "model.dtype must be text, not a list", "fix model.dtype"),
    ],
)
def test_a_wrong_value_names_the_key_as_the_file_writes_it(config: dict[str, Any], said: str, fix: str) -> None:
    """A 0.3.7 key renamed before the decode was named by its new name ("model.dtype must be text" for a file
    that says torch_dtype): the stop-61 config hunt."""
    line = error_of(config)
    assert line.startswith(f"ERROR [INVARLOCK:E201] c.yaml: {said}") and f" — {fix}" in line, line


def test_a_pair_pinned_at_the_tiers_value_is_accepted_and_another_refused() -> None:
    """`variance: {clamp: [0.85, 1.12]}` (upstream-configs.md: pinned) was refused: YAML's list never equalled the
    tier's tuple (stop-62 regression hunt)."""
    tier = resolve_policy("balanced", "ci").guards.variance.clamp
    pinned = resolve_policy("balanced", "ci", guard_overrides={"variance": {"clamp": list(tier)}})
    assert pinned.guards.variance.clamp == tier
    with pytest.raises(UsageError) as refused:
        resolve_policy("balanced", "ci", guard_overrides={"variance": {"clamp": [tier[0] - 0.05, tier[1]]}})
    assert refused.value.code == "E202" and "guards.variance.clamp" in refused.value.message


@pytest.mark.parametrize(
    ("model", "dtype"),
    [
        ({"torch_dtype": "fp16", "dtype": "float16"}, "float16"),
        ({"torch_dtype": "bfloat16", "dtype": "bf16"}, "bfloat16"),
    ],
)
def test_torch_dtype_and_dtype_naming_one_dtype_two_ways_agree(model: dict[str, Any], dtype: str) -> None:
    """fp16 and float16 were compared before the alias was read: "disagree" (the configs hunt, stop 71)."""
    assert parse_config({"model": model}, source="c.yaml").model.dtype == dtype


@pytest.mark.parametrize(
    "variance",
    [
        {"sided": "one-sided", "predictive_one_sided": True},
        {"sided": "one", "gating": {"sided": "one-sided"}},  # compared before the word was read (stop 71)
    ],
)
def test_the_same_sided_pinned_twice_is_accepted(variance: dict[str, Any]) -> None:
    config = parse_config({"guards": {"variance": variance}}, source="c")
    assert config_to_dict(config)["guards"]["variance"]["sided"] == "one"
