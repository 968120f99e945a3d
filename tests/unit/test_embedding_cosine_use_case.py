"""embedding_cosine through the certify use case on recorded-state fake encoders: the certificate's evidence is
one cosine per window (no NLL), it replays byte for byte and verifies, and a resealed alteration of a cosine,
of the embedding policy section or of the verdict is caught by recomputation."""

from __future__ import annotations

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, EvalConfig, GuardsConfig, MetricConfig, ModelConfig
from invarlock.application.replay.replay import replay_certificate
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import kl_bins
from invarlock.domain.metrics.secondary import secondary_metrics
from invarlock.domain.policy import policy_from_dict, resolve_policy

from tests.fakes.certificates import resealed
from tests.fakes.encoders import FakeEncoder
from tests.unit.conftest import small_config

NO_VARIANCE = GuardsConfig(order=["invariants", "spectral", "rmt", "invariants"])


@pytest.fixture
def encoders(loader):
    loader.models.update(
        {
            "enc": FakeEncoder(ref="enc"),
            "enc_int8ish": FakeEncoder(ref="enc_int8ish", quality=1.002),
            "enc_int4ish": FakeEncoder(ref="enc_int4ish", quality=1.08),
            "enc_broken": FakeEncoder(ref="enc_broken", quality=3.0),
        }
    )
    return loader


def _certify(services, subject: str, guards: GuardsConfig = NO_VARIANCE, calibration_n: int = 0) -> c.Certificate:
    config = msgspec.structs.replace(
        small_config(),
        model=ModelConfig(id="enc"),
        dataset=DatasetConfig(
            provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=calibration_n, seed=7
        ),
        eval=EvalConfig(metric=MetricConfig(kind="embedding_cosine")),
        guards=guards,
    )
    request = CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id=subject), tier="balanced", profile="dev"
    )
    return certify_edit(request, services).certificate


def _failed(report) -> list[str]:
    return [check.name for check in report.checks if not check.ok]


def test_a_close_encoder_passes_with_cosine_evidence_only_and_replays_and_verifies(services, store, encoders):
    cert = _certify(services, "enc_int8ish")
    final = cert.evidence.final
    assert cert.primary_metric.kind == "embedding_cosine" and cert.schema_version == "v2"
    assert final is not None and final.baseline_nll is None and final.comparisons is not None
    assert final.tokens_scored == [32] * 12 and all(0.99 < r.cosine < 1.0 for r in final.comparisons)
    assert cert.verdict.status == "PASS" and cert.policy.resolved["embedding"]["min_cosine"] == 0.99
    assert c.to_bytes(replay_certificate(store, cert.run_id)) == c.to_bytes(cert)
    report = verify_certificate(cert, store=store)
    assert report.exit_code == 0, _failed(report)


def test_a_distant_encoder_fails_the_lower_bound_and_verify_agrees(services, encoders):
    cert = _certify(services, "enc_int4ish")
    assert cert.verdict.status == "FAIL"
    assert [f.flag for f in cert.verdict.failed] == ["primary_metric_acceptable"]
    assert verify_certificate(cert).exit_code == 1


def test_a_catastrophic_preview_rolls_back_without_the_final_arm(services, store, encoders):
    cert = _certify(services, "enc_broken")
    assert cert.status == "rollback" and cert.evidence.final is None and cert.validation["catastrophe"] is True
    events = store.read(cert.run_id)
    assert not any(e.type == "preview_assessed" for e in events)
    preview = next(e for e in events if e.type == "preview_checked")
    mean = cert.primary_metric.preview.value("mean_cosine")
    assert b'"catastrophe":true' in preview.payload
    assert f"preview mean cosine {mean:.4f} < catastrophe cosine 0.5".encode() in preview.payload
    assert verify_certificate(cert).exit_code == 1


def _nudged_cosine(cert: c.Certificate) -> c.Certificate:
    final = cert.evidence.final
    assert final is not None and final.comparisons is not None
    rows = list(final.comparisons)
    rows[3] = msgspec.structs.replace(rows[3], cosine=rows[3].cosine - 1e-9)  # type: ignore[operator]
    evidence = msgspec.structs.replace(cert.evidence, final=msgspec.structs.replace(final, comparisons=rows))
    return resealed(cert, evidence=evidence)


def _loosened_policy(cert: c.Certificate) -> c.Certificate:
    resolved = {**cert.policy.resolved, "embedding": {**cert.policy.resolved["embedding"], "min_cosine": 0.5}}
    return resealed(cert, policy=msgspec.structs.replace(cert.policy, resolved=resolved))


def _invented_kl(cert: c.Certificate) -> c.Certificate:
    """KL and top-1 counts an encoder run never measures, the secondary metrics restated from them: plain verify
    passed it, and a recipient gating secondary metrics then read a PASS (the kinds hunt)."""
    r = msgspec.structs.replace
    arms = {}
    for name in ("preview", "final"):
        arm = getattr(cert.evidence, name)
        rows = [
            r(row, kl_sum=0.0, kl_max=0.0, kl_histogram=(row.positions,) + (0,) * (kl_bins.BINS - 1))
            for row in arm.comparisons
        ]
        arms[name] = r(
            arm, comparisons=[r(row, top1_agree=row.positions, top5_overlap=5 * row.positions) for row in rows]
        )
    evidence = r(cert.evidence, **arms)
    policy = policy_from_dict(cert.policy.resolved)
    stated = secondary_metrics(
        evidence, seed=cert.bootstrap.seed, plan_digest=cert.dataset.window_plan_digest, policy=policy
    )
    assert stated is not None
    return resealed(cert, evidence=evidence, secondary_metrics=stated)


def _policy_without_section(cert: c.Certificate) -> c.Certificate:
    resolved = {k: v for k, v in cert.policy.resolved.items() if k != "embedding"}
    return resealed(cert, policy=msgspec.structs.replace(cert.policy, resolved=resolved))


@pytest.mark.parametrize(
    ("forge", "check"),
    [
        (_nudged_cosine, "primary_metric"),
        (_loosened_policy, "policy_digest"),
        (_policy_without_section, "policy_digest"),
        (_invented_kl, "comparisons"),
    ],
)
def test_a_resealed_alteration_is_caught_by_recomputation(services, encoders, forge, check):
    report = verify_certificate(forge(_certify(services, "enc_int8ish")))
    assert report.exit_code == 3 and check in _failed(report)


def test_a_stricter_recipient_policy_brings_its_own_embedding_section_and_fails_a_distant_encoder(services, encoders):
    cert = _certify(services, "enc_int4ish")
    report = verify_certificate(cert, recipient=resolve_policy("conservative", "dev", section="embedding"))
    assert report.verdict == "FAIL" and "recipient_policy" in _failed(report)
    bare = verify_certificate(cert, recipient=resolve_policy("conservative", "dev"))
    assert bare.verdict == "FAIL" and "embedding section" in next(ch.detail for ch in bare.checks if not ch.ok)


@pytest.mark.parametrize(
    ("guards", "named"),
    [
        (GuardsConfig(order=["invariants", "variance", "invariants"]), "variance guard"),
        (GuardsConfig(order=["invariants", "spectral", "invariants"], spectral={"repair": True}), "repair"),
    ],
)
def test_an_encoder_run_asking_for_a_rescoring_guard_is_refused_before_anything_loads(
    services, encoders, guards, named
):
    with pytest.raises(UsageError) as err:
        _certify(services, "enc_int8ish", guards, calibration_n=8)
    assert err.value.code == "E005" and named in err.value.message and "no per-model NLL sums" in err.value.message
    assert encoders.loaded == []


def test_a_perplexity_kind_on_an_encoder_stops_with_one_e104_naming_the_mismatch(services, encoders):
    config = msgspec.structs.replace(
        small_config(),
        model=ModelConfig(id="enc"),
        guards=NO_VARIANCE,
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=0, seed=7),
    )
    request = CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id="enc_int8ish"), tier="balanced", profile="dev"
    )
    with pytest.raises(UsageError) as err:
        certify_edit(request, services)
    assert err.value.code == "E104" and "cannot be computed from what the models' adapter scored" in err.value.message
