"""The doctor use case on recorded-state fakes: every error certify/run stop with before loading a model is an
ERROR finding of the doctor, with the same E-code, message and exit status; warnings and notes otherwise."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EditConfig, EvalConfig, GuardsConfig, MetricConfig, ModelConfig, parse_config
from invarlock.application.doctor.diagnose import DoctorDeps, DoctorRequest, diagnose
from invarlock.application.services import Services
from invarlock.domain import diagnostics as d
from invarlock.domain.doctor_report import DoctorReport, Summary
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.policy import PREFLIGHT_MIN_FREE_BYTES
from invarlock.domain.system_facts import StoreSummary

from tests.fakes.loaders import HoldingLoader
from tests.fakes.models import FakeCorpora, FakeLoader, words
from tests.fakes.system import FakeSystemProbe
from tests.unit.conftest import small_config

Case = Callable[[CertifyRequest, Services], tuple[CertifyRequest, Services]]


def _request(**changes: object) -> CertifyRequest:
    base = CertifyRequest(
        command="certify", config=small_config(), subject=ModelConfig(id="int8ish"), tier="balanced", profile="dev"
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _config(req: CertifyRequest, section: str, **changes: object) -> CertifyRequest:
    cfg = req.config
    return dataclasses.replace(req, config=msgspec.structs.replace(cfg, **{section: changes["value"]}))


def _dataset(req: CertifyRequest, **changes: object) -> CertifyRequest:
    ds = msgspec.structs.replace(req.config.dataset, **changes)
    return dataclasses.replace(req, config=msgspec.structs.replace(req.config, dataset=ds))


def _model(req: CertifyRequest, **changes: object) -> CertifyRequest:
    model = msgspec.structs.replace(req.config.model, **changes)
    return dataclasses.replace(req, config=msgspec.structs.replace(req.config, model=model))


CI_WINDOWS = {"preview_n": 180, "final_n": 200}
# One broken run per E-code a run can stop with before it loads a model (the config-file codes E200/E201 that
# the CLI raises while reading the config: tests/unit/test_doctor_cli.py). The doctor must find each.
CASES: dict[str, tuple[str, Case]] = {
    "unknown tier": ("E202", lambda r, s: (dataclasses.replace(r, tier="lenient"), s)),
    "unknown guard setting": (
        "E202",
        lambda r, s: (_config(r, "guards", value=GuardsConfig(spectral={"bogus": 1})), s),
    ),
    "too few windows for the ci floor": ("E005", lambda r, s: (dataclasses.replace(r, profile="ci"), s)),
    "variance guard without calibration windows": ("E005", lambda r, s: (_dataset(r, calibration_n=0), s)),
    "nothing to certify": ("E201", lambda r, s: (dataclasses.replace(r, subject=None, command="run"), s)),
    "unknown edit": (
        "E204",
        lambda r, s: (_config(dataclasses.replace(r, subject=None), "edit", value=EditConfig(name="nope")), s),
    ),
    "an edit plan refused by the edit's own check": (
        "E204",
        lambda r, s: (
            _config(dataclasses.replace(r, subject=None), "edit", value=EditConfig("fake_checked", {"factor": "x"})),
            s,
        ),
    ),
    "unknown dtype": ("E104", lambda r, s: (_model(r, dtype="float8"), s)),
    "unknown device": ("E104", lambda r, s: (_model(r, device="tpu"), s)),
    "device not present": ("E104", lambda r, s: (_model(r, device="cuda"), s)),
    "missing baseline": ("E101", lambda r, s: (_model(r, id="no/such/model"), s)),
    "missing subject": ("E101", lambda r, s: (dataclasses.replace(r, subject=ModelConfig(id="no/such")), s)),
    "tokenizers differ": ("E002", lambda r, s: (dataclasses.replace(r, subject=ModelConfig(id="other_tok")), s)),
    "corpus too small": (
        "E303",
        lambda r, s: (_dataset(dataclasses.replace(r, profile="ci"), **CI_WINDOWS), s),
    ),
    "empty corpus": ("E304", lambda r, s: (r, dataclasses.replace(s, corpora=FakeCorpora([])))),
    "overlapping windows": ("E201", lambda r, s: (_dataset(r, stride=16), s)),
}


def _deps(svc: Services) -> DoctorDeps:
    assert svc.probe is not None
    edits = svc.edits
    return DoctorDeps(
        loader=svc.loader,
        corpora=svc.corpora,
        probe=svc.probe,
        edit_names=lambda: list(edits),
        edit_of=edits.__getitem__,
    )


def _diagnose(req: CertifyRequest | None, svc: Services, error: InvarlockError | None = None) -> DoctorReport:
    return diagnose(DoctorRequest(request=req, source="case.yaml", events="ev.duckdb", config_error=error), _deps(svc))


@pytest.fixture
def probed(services: Services) -> Services:
    return dataclasses.replace(services, probe=FakeSystemProbe())


@pytest.mark.parametrize("case", sorted(CASES))
def test_doctor_finds_the_error_certify_stops_with_before_loading_a_model(
    case: str, probed: Services, loader: FakeLoader
) -> None:
    code, broken = CASES[case]
    req, svc = broken(_request(), probed)
    with pytest.raises(InvarlockError) as stopped:
        certify_edit(req, svc)
    report = _diagnose(req, svc)
    first = d.first_error(report.findings)
    assert first is not None and stopped.value.code == code
    assert (first.error_code, first.code, first.message) == (code, "D" + code[1:], stopped.value.message)
    assert report.resolution.exit_code == stopped.value.exit_code == first.exit_code
    assert report.resolution.first_error == first.code and not report.resolution.ready
    assert loader.loaded == []  # neither the run nor the doctor loaded a model


def test_a_clean_run_is_ready_with_notes_and_loads_only_tokenizers(probed: Services, loader: FakeLoader) -> None:
    report = _diagnose(_request(), probed)
    assert report.summary == Summary(errors=0, warnings=0, notes=len(report.findings))
    assert report.resolution.exit_code == 0 and report.resolution.ready
    checks = "config extras extras policy store disk device baseline subject tokenizers windows holding"
    assert [f.check for f in report.findings] == checks.split()
    assert loader.tokenizers_loaded == ["base", "int8ish"] and loader.loaded == []
    windows, holding = report.findings[-2:]
    assert holding.code == d.D_HOLDING and "both models together" in holding.message
    assert windows.code == d.D_WINDOWS and "planned preview 8, final 12, calibration 8" in windows.message


HOLDING = {
    "unset, each model may be held alone": (None, "one model at a time (eval.sequential unset: recorded as true)"),
    "stated true": (True, "one model at a time (eval.sequential: true)"),
    "stated false": (False, "both models together (eval.sequential: false)"),
}


@pytest.mark.parametrize(("stated", "told"), HOLDING.values(), ids=HOLDING.keys())
def test_the_doctor_says_how_the_run_holds_the_models(probed: Services, stated: bool | None, told: str) -> None:
    holding = HoldingLoader(models=probed.loader.models)  # type: ignore[attr-defined]
    req = _request()
    req = dataclasses.replace(
        req,
        config=msgspec.structs.replace(req.config, eval=msgspec.structs.replace(req.config.eval, sequential=stated)),
    )
    report = _diagnose(req, dataclasses.replace(probed, loader=holding))
    [finding] = [f for f in report.findings if f.check == "holding"]
    assert finding.code == d.D_HOLDING and finding.message == f"the run holds {told}"


def test_an_unreadable_config_skips_what_needs_it_and_still_checks_the_machine(probed: Services) -> None:
    error = UsageError("E201", "case.yaml: unknown key 'dataset.seqlen'", "remove it or fix its spelling")
    report = _diagnose(None, probed, error)
    first = report.findings[0]
    assert (first.severity, first.code, first.error_code, first.exit_code) == ("error", "D201", "E201", 2)
    skipped = {f.check for f in report.findings if f.code == d.D_SKIPPED}
    assert skipped == {
        "policy", "edit", "execution", "device", "baseline", "subject", "tokenizers", "sequential", "shapes",
        "context", "kind", "weights", "windows", "holding",
    }  # fmt: skip
    assert {"extras", "store", "disk"} <= {f.check for f in report.findings if f.severity == "note"}
    assert report.summary.errors == 1 and report.resolution.command is None


def test_a_missing_hf_extra_is_e105_and_no_model_check_runs(probed: Services, loader: FakeLoader) -> None:
    svc = dataclasses.replace(probed, probe=FakeSystemProbe(missing=("torch",)))
    report = _diagnose(_request(), svc)
    first = d.first_error(report.findings)
    assert first is not None and (first.code, first.error_code, first.exit_code) == ("D105", "E105", 2)
    assert "torch is not installed" in first.message and "invarlock[hf]" in first.hint
    assert loader.tokenizers_loaded == []


@pytest.mark.parametrize("edit", [None, "quant_rtn"])
def test_a_run_of_plugin_adapters_and_edits_needs_no_hf_extra(probed: Services, edit: str | None) -> None:
    """The doctor said "the run would stop with E105" without torch for every run, though a run whose models
    load through third-party adapters (and whose edit, if any, is a plugin's) completes without it."""
    svc = dataclasses.replace(probed, probe=FakeSystemProbe(missing=("torch",)))
    req = _request()
    if edit is not None:
        req = dataclasses.replace(req, config=msgspec.structs.replace(req.config, edit=EditConfig(name=edit)))
    deps = dataclasses.replace(_deps(svc), third_party=lambda group, name: group == "adapters")
    report = diagnose(DoctorRequest(request=req, source="case.yaml", events="ev.duckdb"), deps)
    first = d.first_error(report.findings)
    if edit is None:  # the fakes' adapters are plugins here; the built-in quant_rtn runs on torch
        assert not any(f.error_code == "E105" for f in report.findings) and report.resolution.ready
        assert any(f.check == "extras" and "extra hf not installed" in f.message for f in report.findings)
    else:
        assert first is not None and first.error_code == "E105"


def test_an_optional_extra_missing_is_a_note_unless_the_adapter_needs_it(probed: Services) -> None:
    svc = dataclasses.replace(probed, probe=FakeSystemProbe(missing=("onnxruntime",)))
    report = _diagnose(_request(), svc)
    assert report.resolution.ready and any("extra onnx not installed" in f.message for f in report.findings)
    onnx = _diagnose(_model(_request(), adapter="onnx"), svc)
    first = d.first_error(onnx.findings)
    assert first is not None and first.error_code == "E105" and "invarlock[onnx]" in first.hint


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [
        (UsageError("E505", "event store ev.duckdb is locked by another process", "wait"), 2),
        (UsageError("E507", "event store ev.duckdb was written by an earlier invarlock", "new file"), 2),
    ],
)
def test_an_event_store_a_run_cannot_open_is_an_error(probed: Services, error: UsageError, exit_code: int) -> None:
    probe = FakeSystemProbe(store_error=error)
    report = _diagnose(_request(), dataclasses.replace(probed, probe=probe))
    assert report.resolution.error_code == error.code and report.resolution.exit_code == exit_code
    assert probe.stores_probed == ["ev.duckdb"]


def test_unknown_event_versions_and_little_disk_are_warnings(probed: Services) -> None:
    versions = {"run_started.v1": 2, "run_started.v99": 1}
    store = StoreSummary(schema="invarlock-events/v2", runs=2, events=3, versions=versions, size_bytes=1)
    probe = FakeSystemProbe(store=store, free=PREFLIGHT_MIN_FREE_BYTES - 1)
    report = _diagnose(_request(), dataclasses.replace(probed, probe=probe))
    warnings = {f.code: f.message for f in report.findings if f.severity == "warning"}
    assert set(warnings) == {d.D_STORE_VERSIONS, d.D_DISK} and report.resolution.ready
    assert "run_started.v99" in warnings[d.D_STORE_VERSIONS] and "run_started.v1" not in warnings[d.D_STORE_VERSIONS]


def test_a_chain_leaving_out_a_guard_the_tier_gates_is_a_warning_that_the_verdict_will_fail(
    probed: Services,
) -> None:
    # The run started, scored and ended FAIL (spectral_stable: "gated at tier balanced but did not run").
    guards = parse_config(
        {"guards": {"order": ["invariants", "invariants"], "spectral": {"mode": "gate"}}}, source="c.yaml"
    ).guards
    req = _config(_request(), "guards", value=guards)
    warnings = {f.code: (f.message, f.hint) for f in _diagnose(req, probed).findings if f.severity == "warning"}
    assert warnings[d.D_UNGATED_CHAIN] == (
        "guards.order leaves out spectral, which tier balanced gates: the verdict will be FAIL",
        "add spectral to guards.order, or set guards.spectral.mode: monitor",
    )
    assert d.D_UNGATED_CHAIN not in {f.code for f in _diagnose(_request(), probed).findings}


def test_a_batch_size_above_every_arm_is_a_warning_that_each_pass_is_padded_to_it(probed: Services) -> None:
    # 128 windows a pass for arms of 12 took 1.4x the time and 1.6x the memory of the default, without a word.
    batched = _config(_request(), "eval", value=EvalConfig(batch_size=64))
    warnings = {f.code: f.message for f in _diagnose(batched, probed).findings if f.severity == "warning"}
    assert warnings[d.D_PADDED_BATCHES] == (
        "eval.batch_size 64 pads every forward pass to 64 windows; the largest arm holds 12"
    )
    fitting = _config(_request(), "eval", value=EvalConfig(batch_size=12))
    assert d.D_PADDED_BATCHES not in {f.code for f in _diagnose(fitting, probed).findings}


def test_rows_of_no_type_or_version_any_release_writes_are_an_altered_store_not_a_newer_release(
    probed: Services,
) -> None:
    # A NULL type was said to be "an event version a newer invarlock wrote" (None.v1).
    versions = {"run_started.v1": 2, "None.v1": 1, "windows_scored.v0": 1, "zzz_new.v1": 1}
    store = StoreSummary(schema="invarlock-events/v2", runs=2, events=5, versions=versions, size_bytes=1)
    report = _diagnose(_request(), dataclasses.replace(probed, probe=FakeSystemProbe(store=store)))
    warnings = {f.code: f.message for f in report.findings if f.severity == "warning"}
    assert warnings[d.D_STORE_VERSIONS].endswith("this release does not read: zzz_new.v1")
    assert warnings[d.D_STORE_ALTERED].endswith("no invarlock writes: None.v1, windows_scored.v0")


def test_dev_shrinking_the_arms_and_an_unreachable_token_floor_are_warnings(probed: Services) -> None:
    shrunk = _diagnose(_dataset(_request(), preview_n=150, final_n=150), probed)
    assert [f.code for f in shrunk.findings if f.severity == "warning"] == [d.D_SHRUNK, d.D_CALIBRATION_SHORT]
    big = dataclasses.replace(probed, corpora=FakeCorpora(words(400)))
    floor = _diagnose(_dataset(_request(profile="ci"), **CI_WINDOWS), big)
    [warning] = [f for f in floor.findings if f.severity == "warning"]
    assert warning.code == d.D_TOKEN_FLOOR and "200 × 31 = 6200 tokens" in warning.message
    assert floor.resolution.ready  # the run starts; its token_floor_met gate will fail


def test_a_masked_lm_s_token_floor_counts_its_masked_positions(probed: Services) -> None:
    """A ppl_mlm run under ci was told no floor and failed token_floor_met (found by the doctor hunt)."""
    big = dataclasses.replace(probed, corpora=FakeCorpora(words(400)))
    masked = _config(_request(profile="ci"), "eval", value=EvalConfig(metric=MetricConfig(kind="ppl_mlm")))
    report = _diagnose(_dataset(masked, **CI_WINDOWS), big)
    [warning] = [f for f in report.findings if f.code == d.D_TOKEN_FLOOR]
    assert "200 × 5 = 1000 tokens (⌈0.15 · seq_len⌉ masked positions)" in warning.message
    assert "50000 final-arm tokens" in next(f.message for f in report.findings if f.code == d.D_POLICY)


def test_a_calibration_arm_dev_shrank_below_the_variance_guard_s_need_is_told_before_any_load(
    probed: Services, loader: FakeLoader
) -> None:
    """The doctor said the run would start; the run stopped with E005 after both loads (found by the statistics
    hunt). Tapping every FFN matrix always needs the windows: E005 before anything loads in both."""
    shrunk = _dataset(_request(), preview_n=150, final_n=150)
    [warning] = [f for f in _diagnose(shrunk, probed).findings if f.code == d.D_CALIBRATION_SHORT]
    assert warning.message.startswith("the variance guard needs >= 8 calibration windows, and the corpus gives ")
    assert warning.message.endswith("the run stops with E005 if the edit changes an FFN matrix")
    every_ffn = _config(shrunk, "guards", value=GuardsConfig(variance={"targets": "all_ffn"}))
    report = _diagnose(every_ffn, probed)
    assert report.resolution.error_code == "E005" and report.resolution.exit_code == 2
    with pytest.raises(UsageError) as err:
        certify_edit(every_ffn, probed)
    assert err.value.code == "E005" and loader.loaded == [] and "drop variance from guards.order" in err.value.hint


def test_certify_checks_the_device_before_reading_a_tokenizer(probed: Services, loader: FakeLoader, store) -> None:
    with pytest.raises(UsageError) as err:
        certify_edit(_model(_request(), device="cuda"), probed)
    assert err.value.code == "E104" and loader.tokenizers_loaded == []
    (run_id,) = store.run_ids()
    assert [r.type for r in store.read(run_id)] == ["run_started", "run_failed"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(faults=st.lists(st.sampled_from(sorted(CASES)), max_size=3))
def test_any_mix_of_faults_the_doctor_says_what_certify_stops_with_first(
    faults: list[str], probed: Services, store
) -> None:
    req, svc = _request(), dataclasses.replace(probed, store=type(store)())
    for fault in faults:
        req, svc = CASES[fault][1](req, svc)
    try:
        certify_edit(req, svc)
        stopped: InvarlockError | None = None
    except InvarlockError as exc:
        stopped = exc
    report = _diagnose(req, svc)
    first = d.first_error(report.findings)
    assert (first.error_code if first else None) == (stopped.code if stopped else None)
    assert report.resolution.exit_code == (stopped.exit_code if stopped else 0)


def test_a_subject_named_as_the_baseline_has_its_tokenizer_read_once(probed: Services, loader: FakeLoader) -> None:
    report = _diagnose(_request(subject=ModelConfig(id="base")), probed)
    assert report.resolution.ready and loader.tokenizers_loaded == ["base"]
    assert any(f.code == d.D_TOKENIZERS for f in report.findings)


@pytest.mark.parametrize(("bf16", "warned"), [(False, True), (True, False)])
def test_device_auto_resolves_as_the_loader_does_and_bfloat16_without_support_is_a_warning(
    probed: Services, bf16: bool, warned: bool
) -> None:
    probe = FakeSystemProbe(available=("cpu", "cuda"), cuda_bf16=bf16)
    report = _diagnose(_model(_request(), dtype="bfloat16"), dataclasses.replace(probed, probe=probe))
    device = [f for f in report.findings if f.check == "device"]
    assert device[0].message == "device auto (here: cuda), dtype bfloat16"
    assert [f.severity for f in device[1:]] == (["warning"] if warned else []) and report.resolution.ready


def test_an_unknown_dtype_names_the_key_and_the_flag_it_may_come_from(probed: Services) -> None:
    """It said only "unknown dtype 'float64'", with no file, key or flag (stop-62 precision hunt)."""
    req, svc = CASES["unknown dtype"][1](_request(), probed)
    with pytest.raises(InvarlockError) as stopped:
        certify_edit(req, svc)
    assert stopped.value.message == "unknown dtype 'float8' (model.dtype or --dtype)"
