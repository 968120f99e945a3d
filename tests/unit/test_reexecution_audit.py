"""The re-execution audit on recorded-state fakes: a genuine certificate passes and is recorded as its own
stream; forged evidence, another subject, a changed dataset and an altered guard measurement each fail,
naming the window, model or matrix; guard repairs are re-applied before re-scoring."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, EditConfig, GuardsConfig, ModelConfig, RunConfig
from invarlock.application.replay.listing import list_runs
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionDeps, ReexecutionRequest
from invarlock.application.verification.verify import verify_certificate
from invarlock.application.verification.verify_fields import edit_plan_digest
from invarlock.application.verification.verify_secondary import secondary_from
from invarlock.domain import analysis, gates
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.guards.sections import GuardSections
from invarlock.domain.metrics import metric_for
from invarlock.domain.policy import policy_from_dict
from invarlock.domain.run import replay
from invarlock.domain.windows import plan_digest

from tests.fakes.models import FakeCorpora, FakeModel, words
from tests.forged_runs import forged_scores


def _sections(cert: c.Certificate) -> Any:
    """The guard sections as the certificate's JSON holds them."""
    return msgspec.to_builtins(cert.guards)


DOWN = "ffn.2.down"
_VE_WEIGHTS = ("attn.0", "attn.1", "ffn.0.down", "ffn.1.down", "ffn.2.down", "ffn.3.down")


def test_a_certificate_from_before_the_pinned_guard_threads_still_has_its_scores_compared_bit_for_bit(
    services, store, issued
):
    """Its guards measured with the machine's default BLAS threads (no guard_blas_threads recorded), so its
    matrices are compared within tolerance; nothing else changed, so its scores are still exact."""
    cert = issued.certificate
    assert "guard_blas_threads" not in cert.provenance.environment
    pinned = {**cert.provenance.environment, "guard_blas_threads": "1"}
    nudged = forged_scores(store, issued.run_id, cert.issued_at, 1.00001)  # 1e-5: passes only a tolerance rule
    failed = _failed(_audit(nudged, services, sample=3, environment=pinned))
    assert set(failed) == {"reexec:scores:preview", "reexec:scores:final"}
    outcome = _audit(cert, services, sample=3, environment=pinned)
    assert outcome.ok, _failed(outcome)
    build = next(d for n, _, d in outcome.findings if n == "reexec:build")
    assert "scores and activation taps must agree bit for bit" in build
    assert "weight-guard matrices within 0.0001 relative: guard_blas_threads unrecorded -> 1" in build


def _deps(
    services: Any, store: Any = None, environment: dict[str, str] | None = None, tool_version: str = "0.0.test"
) -> ReexecutionDeps:
    ticks = itertools.count()
    return ReexecutionDeps(
        edits=getattr(services, "edits", {}),
        loader=services.loader,
        corpora=services.corpora,
        environment=lambda: environment or {"python": "test"},
        clock=lambda: f"2026-02-01T00:00:{next(ticks):02d}.000000Z",
        new_stream_id=lambda: "audit-1",
        tool_version=tool_version,
        store=store,
    )


def _audit(cert: c.Certificate, services: Any, subject: str = "int8ish", sample: int | None = None, **kw: Any) -> Any:
    request = ReexecutionRequest(baseline="base", subject=subject, sample=sample, sample_seed=kw.pop("seed", 11))
    return reexecute_certificate(cert, request, _deps(services, **kw))


def _failed(outcome: Any) -> dict[str, str]:
    return {name: detail for name, ok, detail in outcome.findings if not ok}


@pytest.fixture
def issued(services: Any) -> Any:
    config = RunConfig(
        model=ModelConfig(id="base"), dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12)
    )
    request = CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id="int8ish"), tier="balanced", profile="dev"
    )
    return certify_edit(request, services)


def test_a_genuine_certificate_passes_and_the_audit_is_a_stream_of_its_own(services, store, issued):
    outcome = _audit(issued.certificate, services, store=store)
    assert outcome.ok, _failed(outcome)
    names = [name for name, _, _ in outcome.findings]
    for expected in ("reexec:baseline_model", "reexec:subject_model", "reexec:windows", "reexec:scores:final"):
        assert expected in names
    assert outcome.windows == 8 + 12
    types = [r.type for r in store.read("audit-1")]
    assert types[0] == "reexecution_started" and types[-1] == "reexecution_finished"
    assert types.count("window_rechecked") == 20
    finished = ev.decode_event("reexecution_finished", 1, store.read("audit-1")[-1].payload)
    assert isinstance(finished, ev.ReexecutionFinished) and finished.ok and finished.failures == []
    assert [r.run_id for r in list_runs(store, store).runs] == [issued.run_id], "an audit is not a run"


def test_subject_nlls_times_1_001_pass_plain_verify_but_fail_the_audit_naming_windows(services, store, issued):
    cert = issued.certificate
    forged = forged_scores(store, issued.run_id, cert.issued_at, 1.001)
    assert forged.primary_metric.ratio_vs_baseline != cert.primary_metric.ratio_vs_baseline
    assert verify_certificate(forged).exit_code == 0
    outcome = _audit(forged, services, sample=3)
    failed = _failed(outcome)
    assert set(failed) == {"reexec:scores:preview", "reexec:scores:final"}
    assert "3 of 3 re-scored windows differ" in failed["reexec:scores:final"]
    assert "final window" in failed["reexec:scores:final"] and "subject NLL" in failed["reexec:scores:final"]


def test_the_sample_is_the_recipients_seed_and_repeats_with_it(services, issued):
    runs = [_audit(issued.certificate, services, sample=3, seed=s, store=None) for s in (5, 5, 6)]
    sample_lines = [next(d for n, _, d in o.findings if n == "reexec:sample") for o in runs]
    assert (
        "--sample-seed 5" in sample_lines[0] and "3 of 8 preview, 3 of 12 final windows; with K = 3" in sample_lines[0]
    )
    assert "f = 1%: 3.0%" in sample_lines[0] and "f = 5%: 14.3%" in sample_lines[0]
    whole = _audit(issued.certificate, services, sample=12, seed=5, store=None)  # once "K = 8 ... f = 1%: 7.7%"
    said = next(d for n, _, d in whole.findings if n == "reexec:sample")
    assert said.endswith("every window of each scored arm re-scored (8 preview, 12 final): any altered window is found")
    assert all(o.windows == 6 for o in runs)


def test_a_different_subject_checkpoint_fails_on_the_weight_digest_before_any_scoring(services, loader, issued):
    loader.models["int4ish"] = FakeModel(ref="int4ish", quality=1.002, weights={"w": np.full((4, 4), 2, np.float32)})
    outcome = _audit(issued.certificate, services, subject="int4ish")
    failed = _failed(outcome)
    assert list(failed) == ["reexec:subject_model"] and "weights_sha256" in failed["reexec:subject_model"]
    assert all(not m.scored for m in loader.instances[-2:]), "nothing is scored with a model that is not certified"


def test_a_dataset_changed_after_issuing_fails_on_the_window_digests(services, issued):
    docs = words(120)
    docs[3] = docs[3].replace("w", "v", 5)
    audit_services = SimpleNamespace(loader=services.loader, corpora=FakeCorpora(docs))
    outcome = _audit(issued.certificate, audit_services)
    failed = _failed(outcome)
    assert list(failed) == ["reexec:windows"]
    assert "window digests differ from the rebuilt windows" in failed["reexec:windows"]
    assert outcome.windows == 0


def test_another_build_compares_within_tolerance_and_says_so(services, issued):
    outcome = _audit(issued.certificate, services, environment={"python": "other", "torch": "9.9"})
    assert outcome.ok, _failed(outcome)
    build = next(d for n, _, d in outcome.findings if n == "reexec:build")
    assert "within 0.0001 relative" in build and "python test -> other" in build
    final = next(d for n, _, d in outcome.findings if n == "reexec:scores:final")
    assert final.endswith("agree within tolerance, largest relative difference 0")


def test_exact_refuses_the_tolerance_a_stated_build_would_allow(services, store, issued):
    """The build that earns the 1e-4 tolerance is the certificate's own statement: a forger relabels it and
    nudges every subject NLL by 1e-5. A recipient who runs the issuer's build says --exact: bit for bit."""
    cert = issued.certificate
    nudged = forged_scores(store, issued.run_id, cert.issued_at, 1.00001)
    relabelled = {"python": "other"}  # the certificate and this machine now disagree on the build
    tolerant = _audit(nudged, services, sample=3, environment=relabelled)
    assert tolerant.ok, _failed(tolerant)
    build = next(d for n, _, d in tolerant.findings if n == "reexec:build")
    assert "the build is the certificate's own statement" in build and "--exact" in build
    request = ReexecutionRequest(baseline="base", subject="int8ish", sample=3, sample_seed=11, exact=True)
    strict = reexecute_certificate(nudged, request, _deps(services, environment=relabelled))
    assert set(_failed(strict)) == {"reexec:scores:preview", "reexec:scores:final"}
    build = next(d for n, _, d in strict.findings if n == "reexec:build")
    assert build.startswith("--exact: every number must agree bit for bit; the certificate states another build")
    honest = reexecute_certificate(cert, request, _deps(services, environment=relabelled))
    assert honest.ok, _failed(honest)


def test_a_certificate_of_another_release_of_the_tool_compares_within_tolerance_and_says_so(services, store, issued):
    """A release may reduce or batch a forward pass's outputs otherwise (other bits from the same machine and
    libraries): an honest certificate of an earlier release is not failed bit for bit, and the same release
    still is."""
    cert = issued.certificate
    nudged = forged_scores(store, issued.run_id, cert.issued_at, 1.00001)
    assert not _audit(nudged, services, sample=3).ok
    outcome = _audit(nudged, services, sample=3, tool_version="0.0.next")
    assert outcome.ok, _failed(outcome)
    build = next(d for n, _, d in outcome.findings if n == "reexec:build")
    assert "invarlock 0.0.test -> 0.0.next" in build and "within 0.0001 relative" in build


def _ve_certificate(services: Any, loader: Any) -> c.Certificate:
    weights = {n: np.ones((4, 4), np.float32) for n in _VE_WEIGHTS}
    weights[DOWN] = weights[DOWN] * np.float32(0.9)
    loader.models["ve_shrunk"] = FakeModel(ref="ve_shrunk", weights=weights)
    config = RunConfig(
        model=ModelConfig(id="ve_base"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=8),
        edit=EditConfig(name="fake_weight", plan={"weight": DOWN, "factor": 0.9}),
        guards=GuardsConfig(),
    )
    request = CertifyRequest(command="run", config=config, subject=None, tier="balanced", profile="dev")
    return certify_edit(request, services).certificate


def test_recorded_repairs_are_reapplied_and_every_measured_guard_is_re_measured(services, loader):
    cert = _ve_certificate(services, loader)
    assert _sections(cert)["variance"]["applied"], "the fake edit is one VE repairs"
    request = ReexecutionRequest(baseline="ve_base", subject="ve_shrunk", sample=None, sample_seed=3)
    outcome = reexecute_certificate(cert, request, _deps(services))
    assert outcome.ok, _failed(outcome)
    names = {n for n, _, _ in outcome.findings}
    assert {"reexec:guard:spectral", "reexec:guard:rmt", "reexec:guard:variance", "reexec:scores:bare"} <= names
    taps = len(_sections(cert)["variance"]["measurements"]["taps"])
    assert outcome.matrices == 2 * len(_VE_WEIGHTS) + 2 * taps + 1  # each tap, again in the A/B pass, its NLLs


def test_an_altered_guard_measurement_fails_naming_the_matrix(services, loader):
    cert = _ve_certificate(services, loader)
    guards = msgspec.to_builtins(cert.guards)
    row = guards["rmt"]["measurements"]["matrices"][2]
    row["subject"]["sigma"] *= 1.001
    forged = c.seal(msgspec.structs.replace(cert, guards=msgspec.convert(guards, GuardSections)))
    request = ReexecutionRequest(baseline="ve_base", subject="ve_shrunk", sample=None, sample_seed=3)
    failed = _failed(reexecute_certificate(forged, request, _deps(services)))
    assert list(failed) == ["reexec:guard:rmt"]
    assert f"{row['name']} at subject.sigma" in failed["reexec:guard:rmt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--baseline", "b"), "this certificate's subject is an external checkpoint (no recorded edit)"),
        (("--subject", "s"), "the re-execution audit needs --baseline"),
        (("--baseline", "b", "--subject", "s", "--sample", "0"), "--sample must be a positive number or 'all'"),
        (("--baseline", "b", "--subject", "s", "--sample", "some"), "--sample must be a positive number or 'all'"),
        (("--baseline", "b", "--subject", "s", "--sample", "²"), "--sample must be a positive number or 'all'"),
        (("--baseline", "b", "--subject", "s", "--sample", "٣"), "--sample must be a positive number or 'all'"),
        (("--baseline", "b", "--subject", "s", "--sample", str(2**63)), f"--sample {2**63} is above {2**63 - 1}"),
        (("--baseline", "b", "--subject", "s", "--sample-seed", str(2**63)), "is not a 64-bit integer"),
        (("--baseline", "b", "--subject", "s", "--sample-seed", str(-(2**63) - 1)), "is not a 64-bit integer"),
        (("--baseline", "", "--subject", "s"), "Invalid value for '--baseline': is empty"),
        (("--baseline", "b", "--subject", " "), "Invalid value for '--subject': is empty"),
        (("--baseline", "b", "--subject", "s", "--device", ""), "Invalid value for '--device': is empty"),
    ],
)
def test_audit_options_are_checked_before_any_model_loads(tmp_path, issued, args, message):
    from tests.fakes.cli import run_cli

    cert = tmp_path / "cert.json"
    cert.write_bytes(c.to_bytes(issued.certificate))
    code, out, err = run_cli("verify", cert, *args)
    parsed = "is empty" not in message  # an empty value is refused as the command line is parsed: no FAIL line
    # before any check of plain verify: `--sample 0` printed the whole plain report, then its FAIL line
    assert code == 2 and len(out.splitlines()) == int(parsed) and "Traceback" not in out + err
    assert out.startswith("FAIL  input: ") or not parsed
    assert err.startswith("ERROR [INVARLOCK:E200]") and message in err and len(err.splitlines()) == 1


def test_without_a_subject_ref_the_recorded_built_in_edit_rebuilds_the_subject(services, loader):
    cert = _ve_certificate(services, loader)
    request = ReexecutionRequest(baseline="ve_base", subject=None, sample=None, sample_seed=3)
    loads, copies = len(loader.loaded), len(loader.duplicated)
    outcome = reexecute_certificate(cert, request, _deps(services))
    assert outcome.ok, _failed(outcome)
    assert loader.loaded[loads:] == ["ve_base"] and loader.duplicated[copies:] == ["ve_base"], "read once, edited copy"
    plan = dict(cert.edit.plan or {}, factor=0.8)
    edit = msgspec.structs.replace(cert.edit, plan=plan, plan_digest=edit_plan_digest(plan))  # reexec:edit agrees
    other = msgspec.structs.replace(cert, edit=edit)
    failed = _failed(reexecute_certificate(other, request, _deps(services)))
    assert list(failed) == ["reexec:subject_model"], "another edit plan gives another subject"
    stale = msgspec.structs.replace(cert, edit=msgspec.structs.replace(cert.edit, plan=plan))
    failed = _failed(reexecute_certificate(stale, request, _deps(services)))
    assert failed["reexec:edit"] == "fake_weight re-applied: edit.plan_digest differs from the certificate's"


def test_the_tolerance_rule_exact_on_the_same_build_relative_bound_across_builds(services, store, issued):
    cert = issued.certificate
    nudged = forged_scores(store, issued.run_id, cert.issued_at, 1.00001)  # 1e-5: below the cross-build bound
    assert set(_failed(_audit(nudged, services, sample=3))) == {"reexec:scores:preview", "reexec:scores:final"}
    other_build = {"python": "test", "torch": "another build"}
    assert _audit(nudged, services, sample=3, environment=other_build).ok
    scaled = forged_scores(store, issued.run_id, cert.issued_at, 1.001)
    assert not _audit(scaled, services, sample=3, environment=other_build).ok


def test_a_certificate_failing_plain_verify_is_not_re_executed(tmp_path, issued):
    from tests.fakes.cli import run_cli

    data = msgspec.to_builtins(issued.certificate)
    data["evidence"]["final"]["subject_nll"][0] *= 1.001  # not resealed: the digest check fails
    cert = tmp_path / "tampered.json"
    cert.write_bytes(c.to_bytes(msgspec.convert(data, c.Certificate)))
    code, out, _ = run_cli("verify", cert, "--baseline", "no/such/model", "--subject", "none/either", "--json")
    checks = {check["name"]: check for check in json.loads(out)["checks"]}
    assert code == 3 and not checks["digest"]["ok"]
    assert checks["reexec"]["detail"].startswith("not run: the certificate already fails plain verification")


def test_malformed_measurements_do_not_decode_and_unplanned_evidence_fails_a_check(services, loader):
    cert = _ve_certificate(services, loader)
    request = ReexecutionRequest(baseline="ve_base", subject="ve_shrunk", sample=None, sample_seed=3)
    guards = _sections(cert)
    guards["rmt"]["measurements"]["matrices"][0] = {"oops": 1}
    with pytest.raises(UsageError, match=r"guards\.rmt\.measurements\.matrices\[0\]") as err:
        c.from_bytes(msgspec.json.encode({**msgspec.to_builtins(cert), "guards": guards}))
    assert err.value.code == "E601"
    final = msgspec.structs.replace(cert.evidence.final, window_ids=[10**6, *cert.evidence.final.window_ids[1:]])
    moved = msgspec.structs.replace(cert, evidence=msgspec.structs.replace(cert.evidence, final=final))
    failed = _failed(reexecute_certificate(moved, request, _deps(services)))
    assert (
        list(failed) == ["reexec:windows"] and "evidence windows not in the plan: [1000000]" in failed["reexec:windows"]
    )


def test_audit_events_round_trip_through_the_codec_and_are_out_of_place_in_a_run(services, store, issued):
    _audit(issued.certificate, services, sample=2, store=store)
    records = store.read("audit-1")
    assert {r.type for r in records} == {
        "reexecution_started",
        "matrix_rechecked",
        "window_rechecked",
        "comparison_rechecked",
        "reexecution_finished",
    }
    for r in records:
        event = ev.decode_event(r.type, r.version, r.payload)
        assert ev.encode_event(event) == (r.type, r.version, r.payload)
    run = [ev.decode_event(r.type, r.version, r.payload) for r in store.read(issued.run_id)]
    with pytest.raises(InvarlockError, match="out of place"):
        replay([*run[:4], ev.decode_event(records[1].type, records[1].version, records[1].payload)])


def _rederive(doc: dict[str, Any]) -> c.Certificate:
    """Every number verify recomputes, recomputed from the (edited) evidence with the project's functions."""
    cert = c.from_bytes(json.dumps(doc).encode())
    dataset = msgspec.structs.replace(cert.dataset, window_plan_digest=plan_digest(cert.evidence.plan))
    policy = policy_from_dict(cert.policy.resolved)
    assessed = metric_for(cert.primary_metric.kind).assess(
        cert.evidence, seed=cert.bootstrap.seed, plan_digest=dataset.window_plan_digest, policy=policy
    )
    cert = msgspec.structs.replace(
        cert,
        dataset=dataset,
        primary_metric=assessed.primary,
        bootstrap=assessed.bootstrap,
        pairing=analysis.pairing_section(cert.evidence, dataset),
    )
    cert = msgspec.structs.replace(cert, secondary_metrics=secondary_from(cert, policy))
    flags, verdict = gates.of_certificate(cert, policy)
    return c.seal(msgspec.structs.replace(cert, validation=flags, verdict=verdict))


def _swap_rows(doc: dict[str, Any], final_at: int, preview_at: int) -> None:
    """The final arm's row `final_at` and the preview arm's row `preview_at` trade places under each other's ids:
    digests, token counts, NLL sums and comparisons move; the ids, and so the deal, stay."""
    final, preview = doc["evidence"]["final"], doc["evidence"]["preview"]
    ids = final["window_ids"][final_at], preview["window_ids"][preview_at]
    for column in ("window_digests", "tokens_scored", "baseline_nll", "subject_nll", "comparisons"):
        if final.get(column) is not None:
            final[column][final_at], preview[column][preview_at] = preview[column][preview_at], final[column][final_at]
    for rows, at, window_id in ((final, final_at, ids[0]), (preview, preview_at, ids[1])):
        if rows.get("comparisons") is not None:
            rows["comparisons"][at]["window_id"] = window_id
    digests = {ids[0]: final["window_digests"][final_at], ids[1]: preview["window_digests"][preview_at]}
    for row in doc["evidence"]["plan"]:
        row["digest"] = digests.get(row["window_id"], row["digest"])


def test_rows_moved_between_arms_under_each_others_ids_pass_plain_verify_but_not_the_audit(services, issued):
    # The limit docs/user-guide.md states ("What plain verify proves"): the arm check binds window ids, and only
    # the window content digests, a trusted input, tie an id to its text. The audit rebuilds the plan and sees it.
    doc = json.loads(c.to_bytes(issued.certificate))
    final, preview = doc["evidence"]["final"], doc["evidence"]["preview"]
    worst = int(np.argmax(np.subtract(final["subject_nll"], final["baseline_nll"])))
    best = int(np.argmin(np.subtract(preview["subject_nll"], preview["baseline_nll"])))
    _swap_rows(doc, worst, best)
    forged = _rederive(doc)
    report = verify_certificate(forged)
    assert report.exit_code == 0
    assert forged.primary_metric.ratio_vs_baseline < issued.certificate.primary_metric.ratio_vs_baseline
    [arms] = [check for check in report.checks if check.name == "arm_assignment"]
    assert "rows behind each id are as trusted as the window content digests" in arms.detail
    moved = f"preview window {preview['window_ids'][best]}, final window {final['window_ids'][worst]}"
    assert _failed(_audit(forged, services))["reexec:windows"].endswith(f"differ from the rebuilt windows: {moved}")
