"""Metric kind `accuracy`: example planning, the paired statistic, its BCa interval, gates and tampering."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain import certificate as c
from invarlock.domain import stats
from invarlock.domain.arm_counts import ArmCounts
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.example_plan import plan_examples
from invarlock.domain.examples import Example, example_digest, label_names, render_prompt
from invarlock.domain.metrics import ACCURACY, PPL_CAUSAL, metric_for
from invarlock.domain.model import WindowComparison
from invarlock.domain.policy import policy_digest, re_resolve, resolve_policy

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"


def _examples(n: int, labels: int = 2) -> list[Example]:
    return [Example(tokens=(7, i, i * 3 + 1), label=i % labels) for i in range(n)]


def _plan(examples: list[Example], seed: int = 42, **counts: int):
    wanted = ArmCounts(preview=counts.get("preview", 4), final=counts.get("final", 6), calibration=0)
    return plan_examples(
        examples,
        max_tokens=16,
        counts=wanted,
        seed=seed,
        provider="memory",
        split="validation",
        tokenizer_sha256="tok",
        allow_fewer=counts.get("allow_fewer", 0) == 1,
    )


def test_the_example_digest_covers_the_label_so_the_plan_digest_changes_with_a_flipped_label():
    assert example_digest((1, 2, 3), 0) != example_digest((1, 2, 3), 1)
    examples = _examples(10)
    plan, _ = _plan(examples)
    flipped = [*examples[:3], Example(tokens=examples[3].tokens, label=1 - examples[3].label), *examples[4:]]
    plan_flipped, _ = _plan(flipped)
    assert plan.dataset_digest != plan_flipped.dataset_digest
    assert plan.window_plan_digest != plan_flipped.window_plan_digest


def test_examples_are_assigned_to_disjoint_arms_deterministically_and_the_seed_changes_the_assignment():
    examples = _examples(30)
    plan, chosen = _plan(examples, preview=10, final=12)
    again, _ = _plan(examples, preview=10, final=12)
    other, _ = _plan(examples, seed=7, preview=10, final=12)
    ids = [w.window_id for w in plan.windows]
    assert plan == again and len(set(ids)) == len(ids) == 22
    assert (len(plan.arm("preview")), len(plan.arm("final"))) == (10, 12)
    assert [w.window_id for w in other.windows] != ids
    assert all(chosen[w.window_id] == examples[w.window_id] for w in plan.windows)
    assert plan.stride == 0 and plan.stream_tokens == sum(len(e.tokens) for e in examples)


def test_duplicate_examples_are_dropped_and_too_few_examples_is_e303_unless_dev_shrinks_the_arms():
    examples = _examples(6) + _examples(2)
    with pytest.raises(AbortError) as err:
        _plan(examples, preview=4, final=6)
    assert err.value.code == "E303"
    plan, _ = _plan(examples, preview=4, final=6, allow_fewer=1)
    assert plan.duplicates_dropped == 2 and plan.approximate_counts and len(plan.windows) == 6


def test_a_prompt_longer_than_seq_len_is_e303_and_an_empty_prompt_e304():
    with pytest.raises(AbortError) as err:
        _plan([Example(tokens=tuple(range(17)), label=0), *_examples(12)])
    assert err.value.code == "E303" and "dataset.seq_len" in err.value.hint
    with pytest.raises(AbortError) as err:
        _plan([Example(tokens=(), label=0), *_examples(12)])
    assert err.value.code == "E304"


def test_label_names_sort_numerically_when_every_name_is_an_integer_and_the_template_needs_one_text_field():
    assert label_names(["pos", "neg", "pos"]) == ("neg", "pos")
    assert label_names(["10", "2", "1"]) == ("1", "2", "10")
    assert label_names(["1", "01", "+1", "10", "1_0"]) == ("+1", "01", "1", "10", "1_0")  # one number: by text


def test_names_of_one_number_keep_their_order_whatever_the_hash_seed():
    # Their order followed the set's: the same labelled set mapped its label words the other way round in another
    # process, and an honest certificate failed its re-execution audit.
    code = "from invarlock.domain.examples import label_names; print(label_names(['1', '01', '+1', '10', '1_0']))"

    def order(seed: int) -> str:
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout

    orders = {order(seed) for seed in range(6)}
    assert orders == {"('+1', '01', '1', '10', '1_0')\n"}
    assert render_prompt("Review: {text}\nSentiment:", "fine {x}") == "Review: fine {x}\nSentiment:"
    with pytest.raises(UsageError) as err:
        render_prompt("{text} {other}", "x")
    assert err.value.code == "E201"


def _arm(labels: list[int], base: list[int], subj: list[int]) -> c.ArmEvidence:
    rows = [
        WindowComparison(window_id=i, positions=1, label=y, baseline_pred=b, subject_pred=s)
        for i, (y, b, s) in enumerate(zip(labels, base, subj, strict=True))
    ]
    n = len(rows)
    return c.ArmEvidence(
        window_ids=list(range(n)), window_digests=[f"d{i}" for i in range(n)], tokens_scored=[1] * n, comparisons=rows
    )


def _random_arm(n: int, seed: int, flip: float) -> c.ArmEvidence:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.75, labels, 1 - labels)
    subj = np.where(rng.random(n) < flip, 1 - base, base)
    return _arm(labels.tolist(), base.tolist(), subj.tolist())


def test_the_arm_statistic_is_paired_accuracy_in_percent_its_difference_in_pp_and_the_agreement():
    arm = _arm([0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 1, 1])
    m = ACCURACY.arm_statistic(arm)
    assert (m.windows, m.tokens) == (4, 4)
    assert (m.baseline_accuracy, m.subject_accuracy, m.delta_pp, m.agreement) == (75.0, 50.0, -25.0, 25.0)
    assert m.ratio is None and ACCURACY.identity(m)[0]
    assert metric_for("accuracy") is ACCURACY and ACCURACY.scored_tokens(128) == (1, "one prediction per example")


def test_the_interval_is_the_pinned_bca_of_the_per_example_correctness_and_identical_models_give_zero():
    arm = _random_arm(120, 3, 0.2)
    evidence = c.Evidence(preview=_random_arm(80, 4, 0.2), final=arm, plan=[])
    policy = resolve_policy("balanced", "dev", section=ACCURACY.policy_section)
    got = ACCURACY.assess(evidence, seed=42, plan_digest="plan", policy=policy)
    labels = np.asarray([r.label for r in arm.comparisons or []])
    cb = 100.0 * (np.asarray([r.baseline_pred for r in arm.comparisons or []]) == labels)
    cs = 100.0 * (np.asarray([r.subject_pred for r in arm.comparisons or []]) == labels)
    key = stats.bootstrap_key(42, "plan", "final")
    want = stats.bca_interval(np.ones(120), cb, cs, key=key, replicates=policy.replicates, alpha=policy.gates.alpha)
    assert got.primary.ci == got.primary.display_ci == (want.lo, want.hi)
    assert want.lo <= got.primary.final.delta_pp <= want.hi  # type: ignore[union-attr]
    assert got.primary.drift == got.primary.final.delta_pp - got.primary.preview.delta_pp  # type: ignore[union-attr,operator]
    same = _arm([0, 1, 1], [0, 1, 0], [0, 1, 0])
    flat = ACCURACY.assess(c.Evidence(preview=same, final=same, plan=[]), seed=1, plan_digest="p", policy=policy)
    assert flat.primary.ci == (0.0, 0.0) and flat.bootstrap.method == "degenerate"


def test_gate_reads_the_lower_bound_against_the_tier_limit_and_floors_count_examples_under_ci():
    many_flips = _random_arm(200, 5, 0.5)
    evidence = c.Evidence(preview=many_flips, final=many_flips, plan=[])
    dev = resolve_policy("balanced", "dev", section=ACCURACY.policy_section)
    pm = ACCURACY.assess(evidence, seed=42, plan_digest="p", policy=dev).primary
    assert pm.display_ci is not None
    flags = ACCURACY.flags(pm, dev)
    assert flags["primary_metric_acceptable"][0] is (pm.display_ci[0] >= -dev.accuracy.delta_pp_limit)  # type: ignore[union-attr]
    assert flags["token_floor_met"][0] == "not_applicable"
    ci = resolve_policy("balanced", "ci", section=ACCURACY.policy_section)
    small = c.Evidence(preview=_random_arm(20, 1, 0.0), final=_random_arm(30, 2, 0.0), plan=[])
    pm_small = ACCURACY.assess(small, seed=42, plan_digest="p", policy=ci).primary
    ci_flags = ACCURACY.flags(pm_small, ci)
    assert pm_small.ci_approximate and ci_flags["ci_not_approximate"][0] is False
    assert (
        ci_flags["window_floor_met"][0] is False
        and "examples per arm (preview 20, final 30)" in ci_flags["window_floor_met"][1]
    )
    assert ci_flags["token_floor_met"][0] == "not_applicable"


def test_catastrophe_trips_when_the_preview_loses_more_than_the_tiers_catastrophe_pp():
    policy = resolve_policy("balanced", "dev", section=ACCURACY.policy_section)
    limit = policy.accuracy.catastrophe_pp  # type: ignore[union-attr]
    n = 20
    wrong = int(np.ceil(n * (limit + 1) / 100))
    arm = _arm([0] * n, [0] * n, [1] * wrong + [0] * (n - wrong))
    assert ACCURACY.catastrophe(ACCURACY.arm_statistic(arm), policy) is not None
    assert ACCURACY.catastrophe(ACCURACY.arm_statistic(_arm([0] * n, [0] * n, [0] * n)), policy) is None


def test_the_accuracy_section_exists_only_for_accuracy_runs_and_leaves_other_policy_digests_unchanged():
    plain = resolve_policy("balanced", "ci")
    assert plain.accuracy is None and resolve_policy("balanced", "ci", section=PPL_CAUSAL.policy_section) == plain
    acc = resolve_policy("balanced", "ci", section=ACCURACY.policy_section)
    assert acc.accuracy is not None and policy_digest(acc) != policy_digest(plain)
    assert re_resolve(acc) == acc and re_resolve(plain) == plain
    preview = ACCURACY.arm_statistic(_random_arm(9, 1, 0.1))
    with pytest.raises(UsageError) as err:
        ACCURACY.catastrophe(preview, plain)
    assert err.value.code == "E202"


def test_a_row_without_a_prediction_is_e403():
    arm = _arm([0, 1], [0, 1], [0, 1])
    rows = list(arm.comparisons or [])
    rows[1] = WindowComparison(window_id=1, positions=1, label=1, baseline_pred=1)
    with pytest.raises(UsageError) as err:
        ACCURACY.arm_statistic(
            c.ArmEvidence(**{**{f: getattr(arm, f) for f in arm.__struct_fields__}, "comparisons": rows})
        )
    assert err.value.code == "E403"


def _script_cert(final: c.ArmEvidence, preview: c.ArmEvidence) -> dict[str, object]:
    """The parts of a certificate the auditor script reads, as the metric states them."""
    policy = resolve_policy("balanced", "dev", section=ACCURACY.policy_section)
    evidence = c.Evidence(preview=preview, final=final, plan=[])
    assessed = ACCURACY.assess(evidence, seed=42, plan_digest="pd", policy=policy)
    return msgspec.to_builtins(
        {
            "primary_metric": assessed.primary,
            "bootstrap": assessed.bootstrap,
            "evidence": {"preview": preview, "final": final},
            "dataset": {"window_plan_digest": "pd"},
        }
    )


@pytest.mark.parametrize("flip", [0.3, 0.0], ids=["bca", "degenerate"])
def test_the_independent_auditor_script_recomputes_every_accuracy_value(flip: float) -> None:
    spec = importlib.util.spec_from_file_location("recompute_accuracy", REFERENCE / "recompute_accuracy.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    cert = _script_cert(_random_arm(60, 8, flip), _random_arm(40, 9, flip))
    results = script.check(cert)
    assert [name for name, ok, _, _ in results if not ok] == []
    assert {"final.agreement", "drift", "ci", "key"} <= {name for name, *_ in results}
    cert["evidence"]["final"]["comparisons"][0]["subject_pred"] ^= 1  # type: ignore[index]
    assert [name for name, ok, _, _ in script.check(cert) if not ok]


@pytest.mark.parametrize(
    ("row", "value", "words", "said"),
    [
        ("label", 5, ["no", "yes"], "final label 5 is not a class index (an integer from 0 below the label words' c"),
        ("subject_pred", -1, None, "final subject_pred -1 is not a class index (an integer from 0 below 2**63)"),
        ("label", 2**70, None, f"final label {2**70} is not a class index (an integer from 0 below 2**63)"),
        ("baseline_pred", True, None, "final baseline_pred True is not a class index (an integer from 0 below 2**63)"),
    ],
)
def test_the_auditor_script_refuses_a_label_that_names_no_class(row: str, value: object, words, said: str) -> None:
    """It counted label 5 of two label words as a wrong answer and printed every value ok; 2**70 was a traceback
    (the stop-62 kinds hunt)."""
    spec = importlib.util.spec_from_file_location("recompute_accuracy", REFERENCE / "recompute_accuracy.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    cert = _script_cert(_random_arm(60, 8, 0.3), _random_arm(40, 9, 0.3))
    if words is not None:
        cert["provenance"] = {"config": {"eval": {"metric": {"label_words": words}}}}
        assert [name for name, ok, _, _ in script.check(cert) if not ok] == []  # 0 and 1 name the two words
    cert["evidence"]["final"]["comparisons"][0][row] = value  # type: ignore[index]
    [(name, ok, detail, stated)] = script.check(cert)
    assert (name, ok, stated) == ("labels", False, None) and detail.startswith(said), detail


@pytest.mark.parametrize("provenance", [None, [], {"config": {"eval": []}}])
def test_a_section_of_another_form_is_an_error_the_script_reports_in_one_line(provenance: object) -> None:
    """`provenance: null` was an AttributeError traceback and exit 1 (stop-62 regression hunt): cert_file's
    `recomputed` turns each error of MALFORMED into one line and exit 2."""
    loaded = []
    for name in ("recompute_accuracy", "cert_file"):
        spec = importlib.util.spec_from_file_location(name, REFERENCE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        loaded.append(importlib.util.module_from_spec(spec))
        spec.loader.exec_module(loaded[-1])
    script, cert_file = loaded
    cert = _script_cert(_random_arm(60, 8, 0.3), _random_arm(40, 9, 0.3))
    cert["provenance"] = provenance
    with pytest.raises(cert_file.MALFORMED):
        script.check(cert)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=8), st.integers(0, 3)),
        min_size=6,
        max_size=40,
        unique_by=lambda row: tuple(row[0]),
    ),
    st.integers(0, 2**31),
)
def test_example_plans_are_disjoint_deterministic_and_digest_every_planned_example(rows, seed):
    examples = [Example(tokens=tuple(ids), label=label) for ids, label in rows]
    plan, chosen = _plan(examples, seed=seed, preview=2, final=2, allow_fewer=1)
    again, _ = _plan(examples, seed=seed, preview=2, final=2, allow_fewer=1)
    ids = [w.window_id for w in plan.windows]
    assert plan == again and len(ids) == len(set(ids)) and set(ids) == set(chosen)
    assert all(
        w.digest == example_digest(examples[w.window_id].tokens, examples[w.window_id].label) for w in plan.windows
    )
    assert plan.windows_available + plan.duplicates_dropped == len(examples)


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("Review: Sentiment:", "has no {text} field, so every example gets the same prompt"),
        ("", "has no {text} field"),
        ("{text} {other}", "is not a template with one {text} field"),
    ],
)
def test_a_template_without_its_text_field_is_refused_naming_the_file(template: str, says: str) -> None:
    """Without {text} every example had the same prompt: refused as a corpus too small (E303), or certified."""
    from invarlock.application.config import parse_config

    data = {
        "model": {"id": "base"},
        "dataset": {"provider": "labelled", "seq_len": 32, "preview_n": 4, "final_n": 4, "calibration_n": 0},
        "eval": {"metric": {"kind": "accuracy", "template": template, "label_words": [" no", " yes"]}},
        "guards": {"order": ["invariants", "invariants"]},
    }
    with pytest.raises(UsageError) as err:
        parse_config(data, source="acc.yaml")
    assert err.value.code == "E201" and err.value.message.startswith("acc.yaml: ") and says in err.value.message
