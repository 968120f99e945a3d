"""A recipient's numeric overrides on a certificate of a kind with its own gates (embedding cosine, accuracy).
`overrides: {ratio_limit: 1.05}` on an embedding certificate was accepted and gated nothing (the verdict stood),
and no override could tighten `min_cosine`: the keys only perplexity ratios read are refused now (E202 naming
the kind's own keys), and the section's keys are overrides like any other, recorded and re-resolved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.policy import re_resolve, resolve_policy

from tests.fakes.cli import run_cli
from tests.unit.test_embedding_cosine_use_case import _certify, encoders  # noqa: F401  (fixture)


@pytest.mark.parametrize("key", ["ratio_limit", "catastrophe_ratio", "drift_min", "min_final_tokens"])
@pytest.mark.parametrize("section", ["embedding", "accuracy"])
def test_an_override_only_perplexity_ratios_read_is_refused_naming_the_sections_keys(section, key) -> None:
    with pytest.raises(UsageError) as refused:
        resolve_policy("balanced", "dev", {key: 1}, section=section)
    assert refused.value.code == "E202" and f"'{key}' gates perplexity ratios" in refused.value.message
    named = "min_cosine" if section == "embedding" else "delta_pp_limit"
    assert named in refused.value.hint


def test_a_section_key_overrides_the_section_is_recorded_and_re_resolves() -> None:
    policy = resolve_policy("balanced", "dev", {"min_cosine": 0.999, "drift_max": 0.01}, section="embedding")
    assert policy.embedding is not None and (policy.embedding.min_cosine, policy.embedding.drift_max) == (0.999, 0.01)
    assert policy.gates.drift_max == resolve_policy("balanced", "dev").gates.drift_max, "the ratio drift stays"
    assert policy.overrides == {"min_cosine": 0.999, "drift_max": 0.01} and re_resolve(policy) == policy
    whole = resolve_policy("balanced", "dev", {"delta_pp_limit": 1}, section="accuracy")
    assert whole.accuracy is not None and whole.accuracy.delta_pp_limit == 1.0
    assert type(whole.accuracy.delta_pp_limit) is float, "an int becomes the float the section states"


@pytest.mark.parametrize(
    ("section", "overrides", "words"),
    [
        (None, {"min_cosine": 0.99}, "unknown policy override 'min_cosine'"),
        ("embedding", {"delta_pp_limit": 1.0}, "unknown policy override 'delta_pp_limit'"),
        ("embedding", {"min_cosine": 1.5}, "'min_cosine' is 1.5: out of range"),
        ("accuracy", {"drift_pp_max": -1}, "'drift_pp_max' is -1: out of range"),
        ("embedding", {"min_cosine": float("nan")}, "'min_cosine' must be finite"),
        ("accuracy", {"catastrophe_pp": "5"}, "'catastrophe_pp' must be a number"),
    ],
)
def test_a_section_override_that_is_no_key_of_it_or_out_of_range_is_refused(section, overrides, words) -> None:
    with pytest.raises(UsageError) as refused:
        resolve_policy("balanced", "dev", overrides, section=section)
    assert refused.value.code == "E202" and words in refused.value.message


def test_a_recipient_tightening_min_cosine_fails_an_encoder_its_tier_passes(services, encoders) -> None:  # noqa: F811
    cert = _certify(services, "enc_int8ish")
    assert cert.verdict.status == "PASS"
    lower = cert.primary_metric.display_ci[0]
    strict = resolve_policy("balanced", "dev", {"min_cosine": min(1.0, lower + 1e-6)}, section="embedding")
    report = verify_certificate(cert, recipient=strict)
    [check] = [ch for ch in report.checks if ch.name == "recipient_policy"]
    assert not check.ok and report.verdict == "FAIL" and report.exit_code == 1
    same = resolve_policy("balanced", "dev", {"min_cosine": lower}, section="embedding")
    assert verify_certificate(cert, recipient=same).exit_code == 0


def test_a_policy_file_with_a_ratio_limit_for_an_embedding_certificate_is_one_e202_line(
    services,
    encoders,  # noqa: F811
    tmp_path: Path,
) -> None:
    cert = tmp_path / "evaluation.cert.json"
    cert.write_bytes(c.to_bytes(_certify(services, "enc_int8ish")))
    policy = tmp_path / "mine.yaml"
    policy.write_text("tier: balanced\nprofile: dev\noverrides: {ratio_limit: 1.05}\n", encoding="utf-8")
    code, out, err = run_cli("verify", cert, "--policy", policy)
    assert code == 2 and f"{policy}: policy override 'ratio_limit'" in out + err
    assert "gates perplexity ratios" in out and "min_cosine" in err + out and "Traceback" not in out + err
    policy.write_text("tier: balanced\nprofile: dev\noverrides: {min_cosine: 0.5}\n", encoding="utf-8")
    code, out, err = run_cli("verify", cert, "--policy", policy, "--json")
    assert code == 0 and json.loads(out)["verdict"] == "PASS", out + err


def test_a_recipient_asking_for_another_spectral_repair_is_refused(services, encoders, tmp_path: Path) -> None:  # noqa: F811
    """A repair changes the subject before it is scored: `guards: {spectral: {repair: true}}` was accepted and
    changed nothing (the forger hunt). The certificate's own value is a pin and is accepted."""
    cert = tmp_path / "evaluation.cert.json"
    issued = _certify(services, "enc_int8ish")
    cert.write_bytes(c.to_bytes(issued))
    recorded = issued.policy.resolved["guards"]["spectral"]["repair"]
    policy = tmp_path / "mine.yaml"
    policy.write_text(f"tier: balanced\nguards: {{spectral: {{repair: {str(not recorded).lower()}}}}}\n", "utf-8")
    code, out, err = run_cli("verify", cert, "--policy", policy)
    assert code == 2 and "guards.spectral.repair" in out + err and "differs from the certificate's" in out + err
    policy.write_text(f"tier: balanced\nguards: {{spectral: {{repair: {str(recorded).lower()}}}}}\n", "utf-8")
    assert run_cli("verify", cert, "--policy", policy)[0] == 0


def test_quoted_text_is_no_number_in_a_policy_files_overrides(services, encoders, tmp_path: Path) -> None:  # noqa: F811
    """`min_cosine: '0.5'` (or '1_000', ' 1.05') was read as a number: a recipient's typo or a string from a
    template decided the verdict. The file's unquoted `5e-1` stays a number (the YAML loader reads it so)."""
    cert = tmp_path / "evaluation.cert.json"
    cert.write_bytes(c.to_bytes(_certify(services, "enc_int8ish")))
    policy = tmp_path / "mine.yaml"
    policy.write_text("tier: balanced\nprofile: dev\noverrides: {min_cosine: '0.5'}\n", encoding="utf-8")
    code, out, err = run_cli("verify", cert, "--policy", policy)
    assert code == 2 and "policy override 'min_cosine' must be a number, got '0.5'" in out + err
    policy.write_text("tier: balanced\nprofile: dev\noverrides: {min_cosine: 5e-1}\n", encoding="utf-8")
    assert run_cli("verify", cert, "--policy", policy)[0] == 0
