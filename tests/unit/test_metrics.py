"""The Metric abstraction: a registry keyed by kind, one bootstrap per build and per verify, and a new kind
plugging in through eval.metric.kind without touching the pipeline."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EvalConfig, MetricConfig, ModelConfig, parse_config
from invarlock.application.replay.replay import replay_certificate
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain import stats
from invarlock.domain.errors import EXIT_INTEGRITY, IntegrityError, UsageError
from invarlock.domain.metrics import METRICS, PPL_CAUSAL, metric_for, ppl_causal, recorded_metric
from invarlock.domain.metrics.ppl_causal import PplCausal
from invarlock.domain.policy import Policy, policy_from_dict, resolve_policy

from tests.fakes.certificates import fake_certificate, resealed
from tests.fakes.cli import run_cli
from tests.unit.conftest import small_config


def _request(kind: str = "ppl_causal") -> CertifyRequest:
    config = msgspec.structs.replace(small_config(), eval=EvalConfig(metric=MetricConfig(kind=kind)))
    return CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id="int8ish"), tier="balanced", profile="dev"
    )


def test_the_registry_resolves_ppl_causal_and_names_the_known_kinds_for_an_unknown_one():
    assert metric_for("ppl_causal") is PPL_CAUSAL
    with pytest.raises(UsageError) as err:
        metric_for("bleu")
    assert err.value.code == "E201"
    assert "eval.metric.kind 'bleu'" in err.value.message and "ppl_causal" in err.value.hint


def test_a_config_naming_an_unknown_metric_kind_is_refused_naming_the_file_and_the_key():
    with pytest.raises(UsageError) as err:
        parse_config({"eval": {"metric": {"kind": "kl_top1"}}}, source="cfg.yaml")
    assert err.value.code == "E201"
    assert err.value.message.startswith("cfg.yaml: eval.metric.kind 'kl_top1'") and "ppl_causal" in err.value.hint


def test_a_recorded_config_without_a_metric_kind_is_an_altered_stream():
    with pytest.raises(IntegrityError) as err:
        recorded_metric({"eval": {"batch_size": None}})
    assert err.value.code == "E604"
    assert recorded_metric({"eval": {"metric": {"kind": "ppl_causal"}}}) is PPL_CAUSAL


def _count_bootstraps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = ppl_causal.bca_interval

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ppl_causal, "bca_interval", counting)
    return calls


def test_building_and_verifying_a_certificate_each_draw_the_bootstrap_once(services, store, monkeypatch):
    cert = certify_edit(_request(), services).certificate
    calls = _count_bootstraps(monkeypatch)
    assert c.to_bytes(replay_certificate(store, cert.run_id)) == c.to_bytes(cert)
    assert len(calls) == 1
    calls.clear()
    assert verify_certificate(cert).exit_code == 0
    assert len(calls) == 1


def test_the_interval_and_the_bootstrap_section_come_from_the_same_draw():
    cert = fake_certificate()
    again = PPL_CAUSAL.assess(
        cert.evidence, seed=cert.bootstrap.seed, plan_digest=cert.dataset.window_plan_digest, policy=_policy(cert)
    )
    assert again.primary == cert.primary_metric and again.bootstrap == cert.bootstrap
    assert cert.bootstrap.method == "bca" and cert.primary_metric.ci is not None


def _policy(cert: c.Certificate) -> Policy:
    return policy_from_dict(cert.policy.resolved)


def test_verify_fails_a_certificate_whose_metric_kind_it_does_not_know():
    cert = fake_certificate()
    forged = resealed(cert, primary_metric=msgspec.structs.replace(cert.primary_metric, kind="bleu"))
    report = verify_certificate(forged)
    failed = [ch for ch in report.checks if not ch.ok]
    assert [ch.name for ch in failed] == ["primary_metric"] and "unknown metric kind 'bleu'" in failed[0].detail
    assert report.exit_code == EXIT_INTEGRITY


class _RenamedPpl(PplCausal):
    """A second kind that computes what ppl_causal does: it stands in for the next issue's kinds."""

    kind = "ppl_causal_renamed"


def test_a_registered_kind_is_selected_by_the_config_built_and_verified_without_pipeline_changes(
    services, store, monkeypatch
):
    monkeypatch.setitem(METRICS, _RenamedPpl.kind, _RenamedPpl())
    cert = certify_edit(_request(_RenamedPpl.kind), services).certificate
    assert cert.primary_metric.kind == "ppl_causal_renamed"
    assert c.to_bytes(replay_certificate(store, cert.run_id)) == c.to_bytes(cert)
    report = verify_certificate(cert)
    assert report.exit_code == 0, [ch for ch in report.checks if not ch.ok]


def test_a_certificate_stating_secondary_metrics_fails_the_schema_check():
    data = msgspec.to_builtins(fake_certificate())
    data["secondary_metrics"] = {"kl": 0.0}
    with pytest.raises(UsageError) as err:
        c.from_bytes(msgspec.json.encode(data))
    assert err.value.code == "E601" and "secondary_metrics" in err.value.message


_NLL = st.floats(min_value=0.5, max_value=400.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_NLL, _NLL), min_size=2, max_size=30), st.integers(0, 2**31), st.booleans())
def test_the_gated_interval_and_the_bootstrap_section_describe_one_draw_of_the_gated_arm(rows, seed, rolled_back):
    arm = c.ArmEvidence(
        window_ids=list(range(len(rows))),
        window_digests=["d"] * len(rows),
        tokens_scored=[31] * len(rows),
        baseline_nll=[b for b, _ in rows],
        subject_nll=[s for _, s in rows],
    )
    evidence = c.Evidence(preview=arm, final=None if rolled_back else arm, plan=[])
    policy = resolve_policy("balanced", "dev")
    got = PPL_CAUSAL.assess(evidence, seed=seed, plan_digest="plan", policy=policy)
    arm_name = "preview" if rolled_back else "final"
    n, lb, ls = (np.asarray(x, dtype=np.float64) for x in (arm.tokens_scored, arm.baseline_nll, arm.subject_nll))
    key = stats.bootstrap_key(seed, "plan", arm_name)
    want = stats.bca_interval(n, lb, ls, key=key, replicates=policy.replicates, alpha=policy.gates.alpha)
    assert (got.bootstrap.key, got.bootstrap.method, got.bootstrap.seed) == (want.key, want.method, seed)
    assert got.primary.ci == (None if rolled_back else (want.lo, want.hi))
    assert got.primary.display_ci == (None if rolled_back else (math.exp(want.lo), math.exp(want.hi)))


def test_run_with_an_unknown_metric_kind_exits_2_in_one_line_naming_the_key_and_the_known_kinds(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("eval: {metric: {kind: bleu}}\nedit: {name: quant_rtn, plan: {bits: 8}}\n", encoding="utf-8")
    code, out, err = run_cli("run", "-c", config, "--events", tmp_path / "ev.duckdb")
    [line] = (out + err).strip().splitlines()
    assert code == 2 and "[INVARLOCK:E201]" in line
    assert "eval.metric.kind 'bleu'" in line and f"known kinds: {', '.join(METRICS)}" in line
    assert not (tmp_path / "ev.duckdb").exists()


@pytest.mark.parametrize("kind", sorted(METRICS))
def test_every_registered_kind_implements_every_member_of_the_metric_protocol(kind):
    from invarlock.domain.metrics.base import Metric
    from invarlock.domain.policy import SECTIONS

    members = {n for n in vars(Metric) if not n.startswith("_")}
    metric = METRICS[kind]
    assert {n for n in members if not hasattr(metric, n)} == set()
    assert isinstance(metric.per_model_scores, bool)
    assert metric.policy_section is None or metric.policy_section in SECTIONS
    assert metric.kind == kind
