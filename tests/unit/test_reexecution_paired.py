"""The re-execution audit of certificates whose evidence is paired measures only (accuracy: label and both
predictions per example; embedding_cosine: one cosine per window), on recorded-state fakes: a faithful
certificate passes and each re-measured comparison is recorded, stated next to recomputed; a certificate
rebuilt by its issuer with one flipped prediction or one altered cosine passes plain verify but fails the audit
naming the example or window; a `run` certificate's recorded edit is re-applied to the baseline."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import (
    DatasetConfig,
    EditConfig,
    EvalConfig,
    GuardsConfig,
    MetricConfig,
    ModelConfig,
    RunConfig,
)
from invarlock.application.services import Services
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionOutcome, ReexecutionRequest
from invarlock.application.verification.verify import verify_certificate
from invarlock.application.verification.verify_fields import edit_plan_digest
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.build import build_certificate
from invarlock.domain.model import WindowComparison
from invarlock.domain.run import replay

from tests.fakes.encoders import FakeEncoder
from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, FakeScaleEdit, labelled_words, words
from tests.unit.test_reexecution_audit import _deps

ACCURACY = MetricConfig(kind="accuracy", template="Review: {text} Sentiment:", label_words=[" negative", " positive"])
GUARDS = GuardsConfig(order=["invariants", "invariants"])


def _services(store: InMemoryEventStore) -> Services:
    ticks, ids = itertools.count(), itertools.count()
    models = {
        "base": FakeModel(ref="base"),
        "subject": FakeModel(ref="subject", quality=1.02),
        "enc": FakeEncoder(ref="enc"),
        "enc_int8ish": FakeEncoder(ref="enc_int8ish", quality=1.002),
    }
    return Services(
        loader=FakeLoader(models=models),
        corpora=FakeCorpora(words(120), labelled=labelled_words(120)),
        store=store,
        edits={"fake_scale": FakeScaleEdit()},
        clock=lambda: f"2026-01-01T00:00:{next(ticks):02d}.000000Z",
        new_run_id=lambda: f"run-{next(ids)}",
        environment=lambda: {"python": "test"},
        tool_version="0.0.test",
    )


def _config(kind: str, edit: EditConfig | None = None) -> RunConfig:
    if kind == "accuracy":
        return RunConfig(
            model=ModelConfig(id="base"),
            dataset=DatasetConfig(provider="labelled", seq_len=32, preview_n=40, final_n=60, calibration_n=0, seed=7),
            eval=EvalConfig(metric=ACCURACY),
            guards=GUARDS,
            edit=edit,
        )
    return RunConfig(
        model=ModelConfig(id="enc"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=0, seed=7),
        eval=EvalConfig(metric=MetricConfig(kind="embedding_cosine")),
        guards=GUARDS,
        edit=edit,
    )


SUBJECTS = {"accuracy": ("base", "subject"), "embedding_cosine": ("enc", "enc_int8ish")}


def _certify(services: Services, kind: str) -> c.Certificate:
    request = CertifyRequest(
        command="certify",
        config=_config(kind),
        subject=ModelConfig(id=SUBJECTS[kind][1]),
        tier="balanced",
        profile="dev",
    )
    return certify_edit(request, services).certificate


def _audit(cert: c.Certificate, services: Services, kind: str, store: Any = None, **req: Any) -> ReexecutionOutcome:
    base, subject = SUBJECTS[kind]
    request = ReexecutionRequest(
        baseline=base, subject=req.get("subject", subject), sample=req.get("sample"), sample_seed=11
    )
    return reexecute_certificate(cert, request, _deps(services, store=store))


def _failed(outcome: ReexecutionOutcome) -> dict[str, str]:
    return {name: detail for name, ok, detail in outcome.findings if not ok}


def _forged(store: InMemoryEventStore, cert: c.Certificate, change: Callable[[WindowComparison], WindowComparison]):
    """What an issuer can make from its own run: the first final window's recorded comparison changed, the
    certificate rebuilt from the altered events and sealed by the project's own functions."""
    events = [ev.decode_event(r.type, r.version, r.payload) for r in store.read(cert.run_id)]
    forged: list[ev.Event] = []
    done = False
    for e in events:
        if isinstance(e, ev.CertificateIssued):
            break
        if isinstance(e, ev.WindowsCompared) and e.arm == "final" and not done:
            first = msgspec.structs.replace(e.rows[0], comparison=change(e.rows[0].comparison))
            e, done = msgspec.structs.replace(e, rows=[first, *e.rows[1:]]), True
        forged.append(e)
    log = c.EventLogRef(run_id=cert.run_id, head_hash="0" * 64, event_count=len(forged))
    return build_certificate(replay(forged), issued_at=cert.issued_at, event_log=log), first.comparison.window_id


def _flip_subject(row: WindowComparison) -> WindowComparison:
    assert row.subject_pred is not None
    return msgspec.structs.replace(row, subject_pred=1 - row.subject_pred)


def _nudge_cosine(row: WindowComparison) -> WindowComparison:
    assert row.cosine is not None
    return msgspec.structs.replace(row, cosine=row.cosine * (1 - 1e-6))


@pytest.mark.parametrize("kind", ["accuracy", "embedding_cosine"])
def test_a_faithful_certificate_passes_and_every_re_measured_comparison_is_recorded(kind):
    store = InMemoryEventStore()
    services = _services(store)
    cert = _certify(services, kind)
    assert cert.evidence.preview.baseline_nll is None and cert.evidence.preview.comparisons is not None
    outcome = _audit(cert, services, kind, store=store)
    assert outcome.ok, _failed(outcome)
    noun = "examples" if kind == "accuracy" else "windows"
    final = cert.evidence.final
    assert final is not None and final.comparisons is not None
    assert outcome.windows == len(cert.evidence.preview.window_ids) + len(final.window_ids)
    detail = dict((n, d) for n, _, d in outcome.findings)
    assert f"{noun} re-scored by both models, paired measures agree bit for bit" in detail["reexec:scores:final"]
    records = [ev.decode_event(r.type, r.version, r.payload) for r in store.read("audit-1")]
    rechecked = [e for e in records if isinstance(e, ev.ComparisonRechecked)]
    assert not any(isinstance(e, ev.WindowRechecked) for e in records), "no NLL sums to recheck"
    assert len(rechecked) == outcome.windows and all(e.ok and e.mismatches == [] for e in rechecked)
    stated = {r.window_id: r for r in final.comparisons}
    for e in (e for e in rechecked if e.arm == "final"):
        assert e.stated == stated[e.window_id] and e.recomputed == e.stated


@pytest.mark.parametrize(
    ("kind", "change", "measure"),
    [("accuracy", _flip_subject, "subject_pred"), ("embedding_cosine", _nudge_cosine, "cosine")],
)
def test_one_altered_comparison_passes_plain_verify_but_fails_the_audit_naming_it(kind, change, measure):
    store = InMemoryEventStore()
    services = _services(store)
    cert = _certify(services, kind)
    forged, wid = _forged(store, cert, change)
    assert forged.digest != cert.digest and forged.evidence.final != cert.evidence.final
    plain = verify_certificate(forged)
    assert plain.exit_code == (0 if forged.verdict.status == "PASS" else 1), [ch.name for ch in plain.checks]
    audit_store = InMemoryEventStore()
    outcome = _audit(forged, services, kind, store=audit_store)
    failed = _failed(outcome)
    noun = "example" if kind == "accuracy" else "window"
    assert list(failed) == ["reexec:scores:final"]
    assert f"1 of {len(cert.evidence.final.window_ids)} re-scored {noun}s differ" in failed["reexec:scores:final"]
    assert f"final {noun} {wid}: {measure} " in failed["reexec:scores:final"]
    records = [ev.decode_event(r.type, r.version, r.payload) for r in audit_store.read("audit-1")]
    wrong = [e for e in records if isinstance(e, ev.ComparisonRechecked) and not e.ok]
    assert [(e.arm, e.window_id) for e in wrong] == [("final", wid)]
    assert wrong[0].mismatches[0].startswith(measure) and wrong[0].stated != wrong[0].recomputed
    finished = records[-1]
    assert isinstance(finished, ev.ReexecutionFinished) and not finished.ok


@pytest.mark.parametrize("kind", ["accuracy", "embedding_cosine"])
def test_a_run_certificate_re_applies_its_recorded_edit_to_the_baseline(kind):
    store = InMemoryEventStore()
    services = _services(store)
    base = SUBJECTS[kind][0]
    edit = EditConfig(name="fake_scale", plan={"factor": 1.05})
    request = CertifyRequest(command="run", config=_config(kind, edit), subject=None, tier="balanced", profile="dev")
    cert = certify_edit(request, services).certificate
    assert cert.edit.name == "fake_scale"
    scale = services.edits["fake_scale"]
    assert isinstance(scale, FakeScaleEdit)
    before, loads = len(scale.applied), len(services.loader.loaded)  # type: ignore[attr-defined]
    outcome = _audit(cert, services, kind, subject=None)
    assert outcome.ok, _failed(outcome)
    assert len(scale.applied) == before + 1 and services.loader.loaded[loads:] == [base]  # type: ignore[attr-defined]
    assert services.loader.duplicated[-1:] == [base]  # type: ignore[attr-defined]
    plan = {"factor": 1.5}  # its digest restated: reexec:edit agrees, the subject it makes is another
    edit = msgspec.structs.replace(cert.edit, plan=plan, plan_digest=edit_plan_digest(plan))
    other = msgspec.structs.replace(cert, edit=edit)
    failed = _failed(_audit(other, services, kind, subject=None))
    assert list(failed) == ["reexec:scores:preview", "reexec:scores:final"], "another plan measures another subject"
