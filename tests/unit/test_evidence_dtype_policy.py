"""A recipient's policy can demand evidence scored in one dtype (`evidence: {require_dtype: float32}`): the
decision, its absence from policies that do not ask (pinned digests unchanged), and verify under it."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.verification.verify import verify_certificate
from invarlock.cli.main import cli
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.gates import evidence_flags, scoring_dtypes
from invarlock.domain.model import ModelIdentity
from invarlock.domain.policy import EVIDENCE_DTYPES, EvidencePolicy, policy_digest, re_resolve, resolve_policy

from tests.unit.conftest import small_config

FLOAT32 = EvidencePolicy(require_dtype="float32")


def _identity(dtype: str) -> ModelIdentity:
    return ModelIdentity(
        ref="m",
        adapter="hf_causal",
        architecture="llama",
        weights_sha256="0" * 64,
        tokenizer_sha256="1" * 64,
        config_sha256="2" * 64,
        param_count=1,
        dtype=dtype,
        device="cpu",
    )


@pytest.mark.parametrize(
    ("baseline", "subject", "ok"),
    [
        ("float32", "float32", True),
        ("float32", "float32+int8", True),  # an ONNX int8 subject: its integer storage is the edit certified
        ("bfloat16", "bfloat16", False),
        ("float32", "float16", False),
        ("float16+int8", "float32", False),
    ],
)
def test_the_evidence_dtype_flag_holds_only_when_both_models_were_scored_in_the_required_dtype(
    baseline: str, subject: str, ok: bool
) -> None:
    policy = resolve_policy("balanced", "dev", evidence=FLOAT32)
    [(flag, (held, reason))] = evidence_flags(_identity(baseline), _identity(subject), policy).items()
    assert flag == "evidence_dtype_ok" and held is ok
    off = [
        f"{role} {d}" for role, d in (("baseline", baseline), ("subject", subject)) if scoring_dtypes(d) != {"float32"}
    ]
    assert reason == f"scored in {', '.join(off)}; the policy requires float32 evidence"


def test_a_policy_without_the_requirement_has_no_flag_and_the_same_digest_as_before() -> None:
    for tier in ("conservative", "balanced", "aggressive"):
        plain = resolve_policy(tier, "ci")
        assert evidence_flags(_identity("bfloat16"), _identity("bfloat16"), plain) == {}
        assert "evidence" not in msgspec.to_builtins(plain)
        demanding = resolve_policy(tier, "ci", evidence=FLOAT32)
        assert msgspec.to_builtins(demanding)["evidence"] == {"require_dtype": "float32"}
        assert policy_digest(demanding) != policy_digest(plain)
        assert re_resolve(demanding) == demanding  # a recorded requirement re-resolves to itself


def test_an_unknown_required_dtype_is_refused() -> None:
    with pytest.raises(UsageError) as err:
        EvidencePolicy(require_dtype="int8")
    assert err.value.code == "E202" and all(d in err.value.hint for d in EVIDENCE_DTYPES)


def _certificate(services) -> c.Certificate:  # type: ignore[no-untyped-def]
    request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    return certify_edit(request, services).certificate


def test_verify_under_a_recipient_policy_decides_on_the_certified_dtype(services) -> None:  # type: ignore[no-untyped-def]
    cert = _certificate(services)
    assert cert.baseline.dtype == cert.subject.dtype == "float32" and "evidence_dtype_ok" not in cert.validation
    report = verify_certificate(cert, recipient=resolve_policy("balanced", "dev", evidence=FLOAT32))
    assert report.exit_code == 0 and report.verdict == "PASS"
    strict = resolve_policy("balanced", "dev", evidence=EvidencePolicy(require_dtype="bfloat16"))
    report = verify_certificate(cert, recipient=strict)
    [check] = [ch for ch in report.checks if not ch.ok]
    assert check.name == "recipient_policy" and report.exit_code == 1
    assert (
        "evidence_dtype_ok (scored in baseline float32, subject float32; the policy requires bfloat16" in check.detail
    )


def test_the_policy_file_key_and_its_errors_on_the_cli(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cert_path = tmp_path / "evaluation.cert.json"
    cert_path.write_bytes(c.to_bytes(_certificate(services)))
    policy = tmp_path / "mine.yaml"
    policy.write_text("tier: balanced\nprofile: dev\nevidence: {require_dtype: bfloat16}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["verify", str(cert_path), "--policy", str(policy), "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["verdict"] == "FAIL"
    for bad in ("{require_dtype: int8}", "{dtype: float32}", "float32"):
        policy.write_text(f"tier: balanced\nevidence: {bad}\n", encoding="utf-8")
        refused = CliRunner().invoke(cli, ["verify", str(cert_path), "--policy", str(policy)])
        assert getattr(refused.exception, "exit_code", None) == 2 and "evidence must be" in str(refused.exception)
