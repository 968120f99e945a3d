"""benchmarks/step_times.py splits a certify run's wall into its steps without changing the run: the timed run
issues the certificate an untimed one issues (timings aside), every step it names ran, and the wrappers are
gone afterwards."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import msgspec
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification import pipeline, planning
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EditConfig, SecondaryConfig

from tests.fakes.loaders import HoldingLoader
from tests.unit.conftest import small_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from step_times import NESTED, StepTimes, passes_seconds, timed_services


def _request() -> CertifyRequest:
    edit = EditConfig(name="fake_weight", plan={"weight": "w", "factor": 0.9})
    return CertifyRequest(command="run", config=small_config(edit), subject=None, tier="balanced", profile="dev")


def _evidence(cert) -> bytes:  # type: ignore[no-untyped-def]
    return msgspec.json.encode([cert.baseline, cert.subject, cert.dataset, cert.evidence, cert.primary_metric])


def test_the_timed_run_issues_the_same_certificate_and_times_every_step(services) -> None:
    plain = certify_edit(_request(), services).certificate
    times = StepTimes()
    originals = (planning.token_stream, pipeline.score_arm, pipeline.issue)
    with timed_services(dataclasses.replace(services, store=InMemoryEventStore()), times) as timed:
        t0 = time.perf_counter()
        issued = certify_edit(_request(), timed).certificate
        wall = time.perf_counter() - t0
    assert _evidence(issued) == _evidence(plain)
    ran = {"tokenizer_load", "corpus_read", "tokenize", "plan", "load", "duplicate", "edit", "fingerprint"}
    assert ran | {"guards", "scoring", "issuing"} <= set(times.table())
    assert 0 < times.top_level_sum() <= wall
    assert all(NESTED[step] in times.seconds for step in NESTED if step in times.seconds), "nested in a step that ran"
    assert (planning.token_stream, pipeline.score_arm, pipeline.issue) == originals


def test_the_timed_loader_holds_the_models_as_the_untimed_one_would(services) -> None:
    """The optional loader ports pass through where the inner loader has them: a loader that tells each model may be
    held alone makes the timed run hold one at a time, as the CLI's run does (and records it)."""
    holding, times = HoldingLoader(models=services.loader.models), StepTimes()
    with timed_services(dataclasses.replace(services, loader=holding, store=InMemoryEventStore()), times) as timed:
        issued = certify_edit(_request(), timed).certificate
    assert issued.provenance.config["eval"]["sequential"] is True and holding.asked
    assert {"baseline_pass", "baseline_guards", "guards"} <= set(times.seconds), "the baseline's guard work is timed"
    with timed_services(dataclasses.replace(services, store=InMemoryEventStore()), StepTimes()) as timed:
        assert "sequential" not in certify_edit(_request(), timed).certificate.provenance.config["eval"]


def test_a_subject_scored_alone_is_timed_as_scoring(services) -> None:
    """A sequential run without paired measures scores the subject through score_role, which was not timed: its
    passes fell into "other" and scoring/floor read 0.0 (the issue-13 hunt)."""
    request = _request()
    r = msgspec.structs.replace
    alone = r(request.config, eval=r(request.config.eval, sequential=True, secondary=SecondaryConfig(measure=False)))
    times = StepTimes()
    with timed_services(dataclasses.replace(services, store=InMemoryEventStore()), times) as timed:
        certify_edit(dataclasses.replace(request, config=alone), timed)
    assert times.seconds["scoring"] > 0.0 and "baseline_pass" in times.seconds
    assert passes_seconds(dict(times.seconds)) >= times.seconds["scoring"]
