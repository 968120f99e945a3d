"""verify under the RECIPIENT's policy (--tier / --policy FILE): it decides, the certificate's policy does not."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig, SecondaryConfig
from invarlock.application.verification.verify import verify_certificate
from invarlock.cli.main import cli
from invarlock.cli.recipient_policy import recipient_policy
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.policy import EvidencePolicy, resolve_policy

from tests.fakes.cli import run_cli
from tests.unit.conftest import small_config


def _certificate(services) -> c.Certificate:  # type: ignore[no-untyped-def]
    request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    return certify_edit(request, services).certificate


def test_a_stricter_recipient_limit_fails_with_exit_1_naming_the_gate(services) -> None:  # type: ignore[no-untyped-def]
    cert = _certificate(services)
    assert cert.verdict.status == "PASS"
    strict = resolve_policy("balanced", "dev", {"ratio_limit": 1.0001})
    report = verify_certificate(cert, recipient=strict)
    [check] = [ch for ch in report.checks if ch.name == "recipient_policy"]
    assert not check.ok and "primary_metric_acceptable" in check.detail and "1.0001" in check.detail
    assert report.verdict == "FAIL" and report.exit_code == 1
    assert all(ch.ok for ch in report.checks if ch.name != "recipient_policy")


def test_a_recipient_profile_with_window_floors_fails_a_dev_certificate(services) -> None:  # type: ignore[no-untyped-def]
    report = verify_certificate(_certificate(services), recipient=resolve_policy("balanced", "ci"))
    [check] = [ch for ch in report.checks if ch.name == "recipient_policy"]
    assert not check.ok and "window_floor_met" in check.detail and report.exit_code == 1


def test_the_same_policy_as_the_certificate_passes(services) -> None:  # type: ignore[no-untyped-def]
    report = verify_certificate(_certificate(services), recipient=resolve_policy("balanced", "dev"))
    assert report.exit_code == 0 and report.verdict == "PASS"


def test_policy_file_on_the_cli(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cert_path = tmp_path / "evaluation.cert.json"
    cert_path.write_bytes(c.to_bytes(_certificate(services)))
    policy = tmp_path / "mine.yaml"
    policy.write_text("tier: balanced\nprofile: dev\noverrides: {ratio_limit: 1.0001}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["verify", str(cert_path), "--policy", str(policy), "--json"])
    report = json.loads(result.output)
    assert result.exit_code == 1 and report["verdict"] == "FAIL"
    assert [ch["name"] for ch in report["checks"] if not ch["ok"]] == ["recipient_policy"]
    policy.write_text("tier: balanced\nlimit: 2\n", encoding="utf-8")
    bad = CliRunner().invoke(cli, ["verify", str(cert_path), "--policy", str(policy)])
    assert getattr(bad.exception, "exit_code", None) == 2 and "unknown key 'limit'" in str(bad.exception)
    policy.write_text("tier: balanced\n1: a\nb: c\n", encoding="utf-8")  # keys YAML reads as a number and text
    mixed = CliRunner().invoke(cli, ["verify", str(cert_path), "--policy", str(policy)])
    assert getattr(mixed.exception, "exit_code", None) == 2 and "unknown key '1'" in str(mixed.exception)  # not E999
    both = CliRunner().invoke(cli, ["verify", str(cert_path), "--policy", str(policy), "--tier", "balanced"])
    assert getattr(both.exception, "exit_code", None) == 2 and "--tier and --policy" in str(both.exception)


def test_a_policy_file_can_gate_on_a_guard_the_certificate_only_monitored(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from invarlock.application.config import DatasetConfig, EditConfig, RunConfig

    edit = EditConfig(name="fake_weight", plan={"weight": "ffn.2.down", "factor": 0.95})
    config = RunConfig(
        model=ModelConfig(id="ve_base"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12),
        edit=edit,
    )
    cert = certify_edit(CertifyRequest("run", config, None, tier="balanced", profile="dev"), services).certificate
    assert cert.validation["spectral_stable"] is False and cert.verdict.status == "PASS"  # monitored at balanced
    cert_path = tmp_path / "evaluation.cert.json"
    cert_path.write_bytes(c.to_bytes(cert))
    policy = tmp_path / "gate.yaml"
    policy.write_text("tier: balanced\nprofile: dev\nguards: {spectral: {mode: gate}}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["verify", str(cert_path), "--policy", str(policy), "--json"])
    report = json.loads(result.output)
    [check] = [ch for ch in report["checks"] if not ch["ok"]]
    assert result.exit_code == 1 and check["name"] == "recipient_policy" and "spectral_stable" in check["detail"]
    policy.write_text("tier: balanced\nguards: {spectral: {mode: loud}}\n", encoding="utf-8")
    bad = CliRunner().invoke(cli, ["verify", str(cert_path), "--policy", str(policy)])
    assert getattr(bad.exception, "exit_code", None) == 2 and "guards.spectral.mode" in str(bad.exception)


def test_a_profile_verify_would_not_use_is_refused_not_ignored(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # `verify CERT --profile bogus` and `--policy FILE --profile bogus` (the file naming its own profile) exited 1
    # with the certificate's own verdict: the profile was dropped without a word, even one no tier table has.
    cert_path = tmp_path / "evaluation.cert.json"
    cert_path.write_bytes(c.to_bytes(_certificate(services)))
    policy = tmp_path / "mine.yaml"
    policy.write_text("tier: balanced\nprofile: dev\n", encoding="utf-8")
    code, out, err = run_cli("verify", cert_path, "--profile", "release")
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E200] --profile release applies to --tier"), err
    assert "Verdict:" not in out and err.count("\n") == 1
    code, _, err = run_cli("verify", cert_path, "--policy", policy, "--profile", "release")
    assert code == 2 and f"--profile release and {policy}'s profile: dev disagree" in err, err
    assert run_cli("verify", cert_path, "--policy", policy, "--profile", "dev")[0] == 0
    assert run_cli("verify", cert_path, "--tier", "balanced", "--profile", "dev")[0] == 0


def test_a_policy_files_bad_tier_override_or_guard_setting_names_the_file(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # These named the key but not the file, and a pinned guard setting's hint pointed at a run config's auto.tier.
    cert_path = tmp_path / "evaluation.cert.json"
    cert_path.write_bytes(c.to_bytes(_certificate(services)))
    policy = tmp_path / "mine.yaml"
    for body, message in (
        ("tier: strictest\n", "unknown tier 'strictest'"),
        ("tier: balanced\noverrides: {ratio_limit: -1}\n", "gates.ratio_limit is -1.0: out of range"),
        ("tier: balanced\nguards: {spectral: {z_floor: -1}}\n", "guards.spectral.z_floor = -1 differs from"),
    ):
        policy.write_text(body, encoding="utf-8")
        code, _, err = run_cli("verify", cert_path, "--policy", policy)
        assert code == 2 and err.startswith(f"ERROR [INVARLOCK:E202] {policy}: {message}"), err
        assert "auto.tier" not in err and err.count("\n") == 1


def _gated_certificate(services, gate: bool) -> c.Certificate:  # type: ignore[no-untyped-def]
    cfg = small_config()
    secondary = SecondaryConfig(measure=True, gate=gate)
    cfg = msgspec.structs.replace(cfg, eval=msgspec.structs.replace(cfg.eval, secondary=secondary))
    return certify_edit(
        CertifyRequest("certify", cfg, ModelConfig(id="int8ish"), "balanced", "dev"), services
    ).certificate


def test_the_recipient_tier_gates_kl_and_top1_where_the_certificate_did(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A certificate that failed its top-1 gate verified PASS (exit 0) under --tier of its own tier: the recipient
    policy was resolved without the secondary gates, and no policy file could ask for them."""
    gated, ungated = _gated_certificate(services, True), _gated_certificate(services, False)
    tier_table = resolve_policy("aggressive", "dev", secondary_gate=True).secondary
    assert tier_table is not None
    assert recipient_policy(gated, "aggressive", None, None).secondary == tier_table  # type: ignore[union-attr]
    assert recipient_policy(ungated, "aggressive", None, None).secondary is None  # type: ignore[union-attr]
    policy = tmp_path / "mine.yaml"
    for gate, cert, expected in ((False, gated, None), (True, ungated, tier_table)):
        policy.write_text(f"tier: aggressive\nsecondary: {{gate: {str(gate).lower()}}}\n", encoding="utf-8")
        assert recipient_policy(cert, None, None, str(policy)).secondary == expected  # type: ignore[union-attr]
    policy.write_text("tier: aggressive\nsecondary: {gate: 1}\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        recipient_policy(gated, None, None, str(policy))
    assert caught.value.code == "E201" and "secondary must be {gate: true | false}" in caught.value.message


@pytest.mark.parametrize(
    ("stated", "override", "named", "reader"),
    [
        ("", "min_final_tokens: 100000", "'min_final_tokens' gates nothing under the dev profile, the cert", "ci"),
        ("profile: dev\n", "min_windows_ci: 100", "'min_windows_ci' gates nothing under the dev profile", "ci"),
        ("profile: ci\n", "min_windows_release: 400", "'min_windows_release' gates nothing under the ci", "release"),
        ("profile: release\n", "replicates_ci: 2000", "'replicates_ci' gates nothing under the release", "ci"),
    ],
)
def test_an_override_the_profile_never_reads_is_refused(  # type: ignore[no-untyped-def]
    services, tmp_path: Path, stated: str, override: str, named: str, reader: str
) -> None:
    """The forger hunt: `min_final_tokens: 100000` decided a dev certificate of 1,524 final tokens PASS, silently."""
    cert = _certificate(services)
    policy = tmp_path / "mine.yaml"
    policy.write_text(f"tier: balanced\n{stated}overrides: {{{override}}}\n", encoding="utf-8")
    with pytest.raises(UsageError) as info:
        recipient_policy(cert, None, None, str(policy))
    assert info.value.code == "E202" and named in info.value.message, info.value.message
    policy.write_text(f"tier: balanced\nprofile: {reader}\noverrides: {{{override}}}\n", encoding="utf-8")
    assert recipient_policy(cert, None, None, str(policy)) is not None  # the profile that reads it takes it


def test_release_reads_min_windows_ci_where_an_interval_is_approximate(services) -> None:  # type: ignore[no-untyped-def]
    """The policy hunt: under release, min_windows_ci was refused as gating nothing, yet ci_not_approximate read
    it (the tier's 180), so no recipient policy could accept a release verdict on fewer windows."""
    cert = _certificate(services)
    floors = {"min_windows_release": 2, "min_final_tokens": 0}
    report = verify_certificate(cert, recipient=resolve_policy("balanced", "release", floors))
    [check] = [ch for ch in report.checks if ch.name == "recipient_policy"]
    assert not check.ok and "FAIL: ci_not_approximate (" in check.detail and ";" not in check.detail, check.detail
    taken = resolve_policy("balanced", "release", {**floors, "min_windows_ci": 2})
    report = verify_certificate(cert, recipient=taken)
    [check] = [ch for ch in report.checks if ch.name == "recipient_policy"]
    assert check.ok and report.verdict == "PASS", check.detail


def test_a_recipient_verdict_other_than_the_certificates_names_the_overrides_and_both_verdicts(  # type: ignore[no-untyped-def]
    services,
) -> None:
    """The policy hunt: limits no tier has turned a FAIL certificate into `balanced/dev verdict PASS`, saying
    neither that the file overrode the tier nor that the certificate's own verdict was FAIL."""
    cert = _certificate(services)
    strict = resolve_policy("balanced", "dev", {"ratio_limit": 1.0001, "drift_min": 0.5})
    [check] = [ch for ch in verify_certificate(cert, recipient=strict).checks if ch.name == "recipient_policy"]
    assert check.detail.startswith("balanced/dev with overrides of drift_min, ratio_limit verdict FAIL: ")
    assert check.detail.endswith("(the certificate's own verdict, under the policy it states, is PASS)")
    [check] = [ch for ch in verify_certificate(cert, recipient=resolve_policy("balanced", "dev")).checks
               if ch.name == "recipient_policy"]  # fmt: skip
    assert check.detail == "balanced/dev verdict PASS"
    sections = resolve_policy("balanced", "dev", {"ratio_limit": 1.2}, evidence=EvidencePolicy(require_dtype="float32"))
    [check] = [ch for ch in verify_certificate(cert, recipient=sections).checks if ch.name == "recipient_policy"]
    assert check.detail.startswith("balanced/dev with overrides of ratio_limit with the evidence section verdict ")
