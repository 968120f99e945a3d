"""The guard chain inside certify_edit, on recorded-state fakes: VE repair and its overhead gate, gate vs
monitor modes, resume re-applying recorded repairs, verify re-deriving guard outcomes."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit, resume_run
from invarlock.application.config import DatasetConfig, EditConfig, GuardsConfig, ModelConfig, RunConfig
from invarlock.application.replay.replay import replay_certificate
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.guards.sections import GuardSections

from tests.unit.test_resume import _cut


def _sections(cert: c.Certificate) -> Any:
    """The guard sections as the certificate's JSON holds them."""
    return msgspec.to_builtins(cert.guards)


DOWN = "ffn.2.down"


def _config(edit: EditConfig | None, guards: GuardsConfig | None = None, calibration_n: int = 8) -> RunConfig:
    return RunConfig(
        model=ModelConfig(id="ve_base"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=calibration_n),
        edit=edit,
        guards=guards or GuardsConfig(),
    )


def _shrink(factor: float = 0.9, **guards: dict[str, str]) -> CertifyRequest:
    edit = EditConfig(name="fake_weight", plan={"weight": DOWN, "factor": factor})
    return CertifyRequest(
        command="run", config=_config(edit, GuardsConfig(**guards)), subject=None, tier="balanced", profile="dev"
    )


def test_identical_subject_leaves_every_guard_silent_and_every_flag_true(services):
    request = CertifyRequest(
        command="certify", config=_config(None), subject=ModelConfig(id="ve_base"), tier="balanced", profile="dev"
    )
    cert = certify_edit(request, services).certificate
    assert {g: s["verdict"] for g, s in _sections(cert).items()} == dict.fromkeys(_sections(cert), "pass")
    assert set(_sections(cert)) == {"invariants", "spectral", "rmt", "variance"}
    assert _sections(cert)["spectral"]["violations"] == [] and _sections(cert)["rmt"]["violations"] == []
    assert _sections(cert)["variance"]["summary"] == {"taps": 0, "proposed": 0, "enabled": False, "violations": 0}
    floors = ("window_floor_met", "token_floor_met", "ci_not_approximate")  # not applicable under dev
    floors += ("kl_divergence_acceptable", "top1_agreement_acceptable")  # not gated without eval.secondary.gate
    flags = {k: v for k, v in cert.validation.items() if k not in ("catastrophe", "guard_overhead_acceptable", *floors)}
    assert all(v is True for v in flags.values()), flags
    assert all(cert.validation[f] == "not_applicable" for f in floors)
    assert cert.validation["guard_overhead_acceptable"] == "not_applicable" and cert.guard_overhead is None


def test_ve_repairs_a_shrunk_output_scale_and_the_overhead_gate_measures_it(services, store, loader):
    out = certify_edit(_shrink(), services)
    cert = out.certificate
    variance = _sections(cert)["variance"]
    tap = next(t for t in variance["scales"] if t["weight"] == DOWN)
    assert tap["ratio"] == pytest.approx(1 / 0.9, rel=1e-6)
    assert tap["applied"] == pytest.approx(1.03)
    assert variance["summary"]["enabled"] is True and variance["applied"] == {DOWN: pytest.approx(1.03)}
    assert variance["ab"]["ci"][1] < -0.0009
    # the residual shift (0.9 x 1.03 = 0.927) is still beyond the deadband: the guard names the tap
    assert [v["name"] for v in variance["violations"]] == [DOWN]
    overhead = cert.guard_overhead
    assert overhead is not None and overhead.repaired_weights == [DOWN]
    assert overhead.guarded_ppl < overhead.bare_ppl and overhead.ratio < 1.0
    assert cert.validation["guard_overhead_acceptable"] is True
    bare = [r for r in store.read(out.run_id) if r.type == "windows_scored" and b'"subject_bare"' in r.payload]
    assert sum(len(msgspec.json.decode(r.payload)["rows"]) for r in bare) == len(cert.evidence.final.window_ids)
    assert verify_certificate(cert).ok
    assert c.to_bytes(replay_certificate(store, out.run_id)) == c.to_bytes(cert)


def test_spectral_flags_the_scaled_matrix_and_fails_only_in_gate_mode(services):
    monitored = certify_edit(_shrink(0.8), services).certificate
    assert [v["name"] for v in _sections(monitored)["spectral"]["violations"]] == [DOWN]
    assert monitored.validation["spectral_stable"] is False
    assert "spectral_stable" not in [f.flag for f in monitored.verdict.failed]
    gated = certify_edit(_shrink(0.8, spectral={"mode": "gate"}), services).certificate
    failed = {f.flag: f.reason for f in gated.verdict.failed}
    assert gated.verdict.status == "FAIL" and DOWN in failed["spectral_stable"]
    assert gated.policy.resolved["guards"]["spectral"]["mode"] == "gate"
    assert gated.policy.digest != monitored.policy.digest


def test_guard_order_can_leave_out_weight_guards_and_their_flags_are_not_applicable(services):
    guards = GuardsConfig(order=["invariants", "spectral", "invariants"])
    request = CertifyRequest(
        command="certify",
        config=_config(None, guards),
        subject=ModelConfig(id="ve_base"),
        tier="balanced",
        profile="dev",
    )
    cert = certify_edit(request, services).certificate
    assert set(_sections(cert)) == {"invariants", "spectral"}
    assert cert.validation["rmt_stable"] == "not_applicable" and cert.validation["variance_ok"] == "not_applicable"


@pytest.mark.parametrize(
    ("order", "calibration_n", "code"),
    [
        (["spectral", "invariants"], 8, "E201"),
        (["invariants", "rmt", "rmt", "invariants"], 8, "E201"),
        (["invariants", "magic", "invariants"], 8, "E201"),
        (["invariants", "variance", "invariants"], 2, "E005"),
    ],
)
def test_bad_guard_orders_and_too_few_calibration_windows_are_refused(services, order, calibration_n, code):
    from invarlock.application.config import config_to_dict, parse_config

    with pytest.raises(UsageError) as err:
        raw = config_to_dict(_config(None, calibration_n=calibration_n))
        raw["guards"]["order"] = order
        cfg = parse_config(raw, source="test.yaml")
        certify_edit(CertifyRequest("certify", cfg, ModelConfig(id="ve_base"), "balanced", "dev"), services)
    assert err.value.code == code


@pytest.mark.parametrize("cut_after", ["guard_evaluated", "preview_assessed", "final", "bare"])
def test_resume_reapplies_recorded_repairs_and_gives_the_same_certificate_body(services, store, loader, cut_after):
    full = certify_edit(_shrink(), services)
    records = store.read(full.run_id)
    types = [r.type for r in records]
    bare_first = next(i for i, r in enumerate(records) if b'"subject_bare"' in r.payload)
    keep = {
        "guard_evaluated": max(i for i, t in enumerate(types) if t == "guard_evaluated") - 1,  # cut before VE
        "preview_assessed": types.index("preview_assessed") + 1,
        "final": bare_first,
        "bare": bare_first + 1,
    }[cut_after]
    cut = _cut(store, full.run_id, keep)
    resumed = resume_run(full.run_id, dataclasses.replace(services, store=cut)).certificate
    for section in ("evidence", "primary_metric", "guard_overhead", "validation", "verdict"):
        assert getattr(resumed, section) == getattr(full.certificate, section), section
    assert _untimed(_sections(resumed)) == _untimed(_sections(full.certificate))  # guard timings are wall-clock


def _untimed(value: object) -> object:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def test_verify_catches_an_altered_guard_measurement_even_when_resealed(services):
    cert = certify_edit(_shrink(), services).certificate
    guards = msgspec.to_builtins(cert.guards)
    guards["spectral"]["measurements"]["matrices"][0]["sigma_subject"] *= 1.5
    forged = c.seal(msgspec.structs.replace(cert, guards=msgspec.convert(guards, GuardSections)))
    report = verify_certificate(forged)
    assert not report.ok and report.exit_code == 3
    assert any(ch.name == "guard:spectral" and not ch.ok for ch in report.checks)


def test_spectral_repair_mode_caps_the_grown_matrix_and_the_overhead_gate_applies(services):
    cert = certify_edit(_shrink(1.5, spectral={"repair": True}), services).certificate
    spectral = _sections(cert)["spectral"]
    assert spectral["repairs"] == {DOWN: pytest.approx(1.1 / 1.5)}  # σ_s back to σ_b·(1 + deadband)
    assert cert.guard_overhead is not None and DOWN in cert.guard_overhead.repaired_weights
    assert cert.validation["guard_overhead_acceptable"] is (cert.guard_overhead.ratio <= 1.01)
    assert verify_certificate(cert).ok


def test_a_stricter_recipient_re_derives_guard_verdicts_under_its_own_policy(services):
    from invarlock.domain.policy import resolve_policy

    cert = certify_edit(_shrink(0.95), services).certificate  # balanced: spectral flags it, in monitor mode
    assert cert.validation["spectral_stable"] is False and cert.verdict.status == "PASS"
    report = verify_certificate(cert, recipient=resolve_policy("conservative", "dev"))  # spectral gates there
    recipient = next(ch for ch in report.checks if ch.name == "recipient_policy")
    assert not recipient.ok and "spectral_stable" in recipient.detail and DOWN in recipient.detail
    assert report.exit_code == 1
