"""Shown fields a forger could change while every number still recomputed (stop 38's leaf-by-leaf audit of an
unsigned certificate): each must agree with the run's event log, its config or itself, or verify exits 3."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, EditConfig, ModelConfig, RunConfig
from invarlock.application.verification.verify import verify_certificate
from invarlock.application.verification.verify_fields import edit_plan_digest
from invarlock.domain import certificate as c

from tests.unit.conftest import small_config

Doc = dict[str, Any]


def _issue(services: Any, command: str) -> Doc:
    if command == "certify":
        request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    else:
        config = RunConfig(
            model=ModelConfig(id="ve_base"),
            dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=8),
            edit=EditConfig(name="fake_weight", plan={"weight": "ffn.2.down", "factor": 0.97}),
        )
        request = CertifyRequest("run", config, None, tier="balanced", profile="dev")
    return dict(json.loads(c.to_bytes(certify_edit(request, services).certificate)))


def _set(path: str, value: object) -> Callable[[Doc], None]:
    def forge(doc: Doc) -> None:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        node[last] = value

    return forge


def _drop(path: str) -> Callable[[Doc], None]:
    def forge(doc: Doc) -> None:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        del node[last]

    return forge


def _both(first: Callable[[Doc], None], second: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def forge(doc: Doc) -> None:
        first(doc)
        second(doc)

    return forge


def _cosine_evidence(doc: Doc) -> None:
    """Evidence an embedding run records (one cosine per window, no NLL columns), so that the provenance check is
    reached (evidence a kind never records fails before it)."""
    for name in ("preview", "final"):
        arm = doc["evidence"][name]
        pairs = zip(arm["window_ids"], arm["tokens_scored"], strict=True)
        arm["comparisons"] = [{"window_id": w, "positions": t, "cosine": 0.99} for w, t in pairs]
        del arm["baseline_nll"], arm["subject_nll"]


FORGERIES: dict[str, tuple[str, Callable[[Doc], None], str]] = {
    "another run id": ("certify", _set("run_id", "run-9"), "is not the certificate's run run-9"),
    "no events": ("certify", _set("provenance.event_log.event_count", -5), "event_count is -5"),
    "a time that is not one": ("certify", _set("issued_at", "yesterday"), "must be ISO-8601 times"),
    "started after issued": ("certify", _set("provenance.started_at", "2027-01-01T00:00:00Z"), "after its"),
    "another torch seed": ("certify", _set("provenance.seeds.torch", 8), "are not all the run's seed"),
    "another window length": ("certify", _set("dataset.seq_len", 64), "dataset.seq_len 64 is not the run config's 32"),
    "overlapping windows": (
        "certify",
        _both(_set("dataset.stride", 7), _set("provenance.config.dataset.stride", 7)),
        "would make windows of 32 tokens overlap",
    ),
    "a stride the config left to seq_len": (
        "certify",
        _set("dataset.stride", 33),
        "stride 33 is not the run config's 32",
    ),
    "another metric": ("certify", _set("primary_metric.kind", "ppl_mlm"), "is not the run config's ppl_causal"),
    "certify naming an edit": (
        "certify",
        _set("edit.name", "quant_rtn"),
        "names no edit, so the subject is external, not the edit quant_rtn",
    ),
    "another command": (
        "certify",
        _set("provenance.command", "audit"),
        "'audit' is not one of certify, run, calibrate",
    ),
    "a one-model run of a kind comparing outputs": (
        "certify",
        _both(
            _set("provenance.config.eval.sequential", True),
            _both(
                _both(_set("primary_metric.kind", "embedding_cosine"), _cosine_evidence),
                _set("provenance.config.eval.metric.kind", "embedding_cosine"),
            ),
        ),
        "holds one model at a time (eval.sequential), yet its metric embedding_cosine compares both models' outputs",
    ),
    "a certify claiming to be a run": (
        "certify",
        _set("provenance.command", "run"),
        "provenance.command run edits the baseline, yet the edit section says the subject is external",
    ),
    "an edit that changed nothing it says": ("run", _set("edit.deltas", None), "edit.deltas: an applied edit states"),
    "a seed dropped": ("certify", _drop("provenance.seeds.torch"), "not the seeds a run records"),
    "no metric kind in the config": (
        "certify",
        _drop("provenance.config.eval.metric.kind"),
        "primary_metric.kind ppl_causal is not the run config's None",
    ),
    # keys no check reads passed unread (a forger's note beside the checked fields), as did values of another type
    "a key no run records": (
        "certify",
        _set("provenance.config.eval.scored_in", "float32"),
        "provenance.config is not what a run records: Object contains unknown field `scored_in` - at `$.eval`",
    ),
    "a guard section no guard of the order reads": (
        "certify",
        _set("provenance.config.guards.audited", {"by": "someone"}),
        "Object contains unknown field `audited` - at `$.guards`",
    ),
    "a value of another type": (
        "certify",
        _set("provenance.config.dataset.text_field", 7),
        "Expected `str`, got `int` - at `$.dataset.text_field`",
    ),
    # found by the forger hunt: plain verify passed what the audit then refused, and the held field was unread
    "a batch size no run accepts": (
        "certify",
        _set("provenance.config.eval.batch_size", 0),
        "eval.batch_size 0 is not a count of windows from 1 to 65536",
    ),
    "the field that holds plugin guard sections": (
        "certify",
        _set("provenance.config.guards.plugins", {"spectral": {"mode": "gate"}}),
        "provenance.config.guards.plugins is not what a run records",
    ),
    "a subject key no run records": (
        "certify",
        _set("provenance.config.subject.quantized_by", "gptq"),
        "provenance.config.subject is not what a run records: Object contains unknown field `quantized_by`",
    ),
    "a negative parameter count": ("certify", _set("subject.param_count", -16), "subject.param_count is -16"),
    # found by the field hunt of stop 65: names and a measure setting no run could have recorded
    "a profile no run takes": ("certify", _set("provenance.config.profile", "devx"), "profile 'devx' is none a run"),
    "a tier no run takes": ("run", _set("provenance.config.auto.tier", ""), "auto.tier '' is none a run takes"),
    "paired measures a run left out": (
        "certify",
        _set("provenance.config.eval.secondary.measure", False),
        "leaves paired measures out (eval.secondary.measure: false), yet the certificate has them",
    ),
    "a negative window count": ("certify", _set("dataset.windows_available", -1), "windows_available is -1"),
    "another plan value": ("run", _set("edit.plan.factor", 0.5), "is not the run config's edit"),
    "a negative delta": ("run", _set("edit.deltas.layers_modified", -1), "layers_modified is -1"),
}


@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_a_shown_field_that_contradicts_the_run_is_an_integrity_failure(services: Any, case: str) -> None:
    command, forge, detail = FORGERIES[case]
    doc = _issue(services, command)
    forge(doc)
    if case == "another plan value":  # the plan digest recomputed too, as anyone can
        doc["edit"]["plan_digest"] = edit_plan_digest(doc["edit"]["plan"])
    report = verify_certificate(c.seal(c.from_bytes(json.dumps(doc).encode())))
    [check] = [ch for ch in report.checks if ch.name == "provenance"]
    assert not check.ok and detail in check.detail, check.detail
    assert report.exit_code == 3


@pytest.mark.parametrize("command", ["certify", "run"])
def test_an_honest_certificate_agrees_with_its_run(services: Any, command: str) -> None:
    report = verify_certificate(c.from_bytes(json.dumps(_issue(services, command)).encode()))
    [check] = [ch for ch in report.checks if ch.name == "provenance"]
    assert check.ok and report.exit_code in (0, 1), check.detail


def test_a_config_name_no_run_takes_passes_in_a_certificate_of_an_earlier_release(services: Any) -> None:
    """--profile/--tier overrode a config's `profile: quick` before 0.3.12, and the config recorded it as written:
    such an honest certificate still verifies (the regression hunt); the config check refuses it since."""
    doc = _issue(services, "certify")
    doc["provenance"]["config"]["profile"] = "quick"
    doc["tool"]["version"] = "0.3.11"
    report = verify_certificate(c.seal(c.from_bytes(json.dumps(doc).encode())))
    [check] = [ch for ch in report.checks if ch.name == "provenance"]
    assert check.ok, check.detail
