"""Kind `accuracy` through the certify use case on the recorded-state fakes: the certificate, verify, replay and
reseal-tamper of its evidence (model-free; the real model and CLI are in tests/e2e/test_accuracy_polarity.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import msgspec
import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit, resume_run
from invarlock.application.config import (
    DatasetConfig,
    EvalConfig,
    GuardsConfig,
    MetricConfig,
    ModelConfig,
    RunConfig,
    SecondaryConfig,
)
from invarlock.application.replay.replay import replay_certificate
from invarlock.application.services import Services
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import UsageError
from invarlock.domain.model import WindowComparison

from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, labelled_words, words

METRIC = MetricConfig(kind="accuracy", template="Review: {text} Sentiment:", label_words=[" negative", " positive"])


def _services(quality: float, store: InMemoryEventStore) -> Services:
    ticks, ids = itertools.count(), itertools.count()
    return Services(
        loader=FakeLoader(models={"base": FakeModel(ref="base"), "subject": FakeModel(ref="subject", quality=quality)}),
        corpora=FakeCorpora(words(10), labelled=labelled_words(120)),
        store=store,
        edits={},
        clock=lambda: f"2026-01-01T00:00:{next(ticks):02d}.000000Z",
        new_run_id=lambda: f"run-{next(ids)}",
        environment=lambda: {"python": "test"},
        tool_version="0.0.test",
    )


def _certify(
    quality: float,
    profile: str = "dev",
    order: tuple[str, ...] = ("invariants", "invariants"),
    secondary: SecondaryConfig | None = None,
) -> tuple[c.Certificate, InMemoryEventStore]:
    store = InMemoryEventStore()
    services = _services(quality, store)
    config = RunConfig(
        model=ModelConfig(id="base"),
        dataset=DatasetConfig(provider="labelled", seq_len=32, preview_n=40, final_n=60, calibration_n=0, seed=7),
        eval=EvalConfig(metric=METRIC, secondary=secondary or SecondaryConfig()),
        guards=GuardsConfig(order=list(order)),
    )
    request = CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id="subject"), tier="balanced", profile=profile
    )
    return certify_edit(request, services).certificate, store


def _events(store: InMemoryEventStore, run_id: str) -> list[ev.Event]:
    return [ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id)]


def test_an_accuracy_run_records_comparisons_only_and_its_certificate_verifies_and_replays_byte_for_byte():
    cert, store = _certify(1.02)
    events = _events(store, cert.run_id)
    assert not any(isinstance(e, ev.WindowsScored) for e in events)
    assert any(isinstance(e, ev.PreviewChecked) and not e.catastrophe for e in events)
    assert cert.schema_version == "v2" and cert.primary_metric.kind == "accuracy" and cert.status == "completed"
    final = cert.primary_metric.final
    assert final is not None and final.windows == 60 and final.agreement is not None and final.agreement < 100.0
    assert cert.evidence.final is not None and cert.evidence.final.baseline_nll is None
    assert verify_certificate(cert).ok
    assert c.to_bytes(replay_certificate(store, cert.run_id)) == c.to_bytes(cert)


def test_a_run_that_leaves_the_secondary_measures_out_keeps_its_comparisons_and_verifies():
    """Labels and predictions are the primary evidence, recorded whatever `measure` says: an honest `measure: false`
    accuracy certificate failed verify's new check that such a run records no paired measures (the regression hunt)."""
    cert, store = _certify(1.02, secondary=SecondaryConfig(measure=False))
    assert cert.evidence.final is not None and cert.evidence.final.comparisons
    assert verify_certificate(cert).ok and c.to_bytes(replay_certificate(store, cert.run_id)) == c.to_bytes(cert)


def test_identical_models_agree_everywhere_and_pass_with_a_zero_interval():
    cert, _ = _certify(1.0)
    final = cert.primary_metric.final
    assert final is not None and (final.delta_pp, final.agreement) == (0.0, 100.0)
    assert cert.primary_metric.ci == (0.0, 0.0) and cert.verdict.status == "PASS"


def test_a_harsh_edit_rolls_back_on_the_preview_with_the_metrics_reason():
    cert, store = _certify(1.5)
    assert cert.status == "rollback" and cert.evidence.final is None
    rollback = [e for e in _events(store, cert.run_id) if isinstance(e, ev.RollbackPerformed)]
    assert rollback and rollback[0].reason.startswith("preview Δaccuracy")
    assert cert.verdict.failed[0].flag == "catastrophe" and verify_certificate(cert).ok


def test_the_ci_profile_refuses_a_set_below_the_example_floor_before_any_scoring():
    from invarlock.domain.errors import UsageError

    with pytest.raises(UsageError) as err:
        _certify(1.0, profile="ci")
    assert err.value.code == "E005"


def test_the_variance_guard_is_refused_before_any_scoring_since_accuracy_has_no_per_model_nll():
    from invarlock.domain.errors import UsageError

    with pytest.raises(UsageError) as err:
        _certify(1.0, order=("invariants", "variance", "invariants"))
    assert err.value.code == "E005" and "no per-model NLL sums" in err.value.message


def _flip(field: str) -> Callable[[WindowComparison], WindowComparison]:
    def change(row: WindowComparison) -> WindowComparison:
        value = getattr(row, field)
        return msgspec.structs.replace(row, **{field: 1 - value})

    return change


@pytest.mark.parametrize("field", ["subject_pred", "baseline_pred", "label"])
def test_a_resealed_flip_of_one_evidence_row_fails_verify_as_an_integrity_failure(field: str):
    cert, _ = _certify(1.02)
    final = cert.evidence.final
    assert final is not None and final.comparisons is not None
    rows = [_flip(field)(final.comparisons[0]), *final.comparisons[1:]]
    evidence = msgspec.structs.replace(cert.evidence, final=msgspec.structs.replace(final, comparisons=rows))
    forged = c.seal(msgspec.structs.replace(cert, evidence=evidence))
    report = verify_certificate(forged)
    assert not report.ok and "primary_metric" in [ch.name for ch in report.checks if not ch.ok]


@pytest.mark.parametrize("measures", [{"cosine": 0.5}, {"kl_sum": 0.0}], ids=["cosine", "kl_sum"])
def test_another_kinds_measure_in_an_evidence_row_fails_verify(measures: dict[str, float]):
    cert, _ = _certify(1.02)
    final = cert.evidence.final
    assert final is not None and final.comparisons is not None
    rows = [msgspec.structs.replace(final.comparisons[2], **measures), *final.comparisons[3:]]
    rows = [*final.comparisons[:2], *rows]
    evidence = msgspec.structs.replace(cert.evidence, final=msgspec.structs.replace(final, comparisons=rows))
    report = verify_certificate(c.seal(msgspec.structs.replace(cert, evidence=evidence)))
    failed = {ch.name: ch.detail for ch in report.checks if not ch.ok}
    field, wid = next(iter(measures)), final.window_ids[2]
    said = f"evidence.final.comparisons: the row of window {wid} holds {field}, which accuracy runs do not measure"
    assert report.exit_code == 3 and failed == {"comparisons": said}


@pytest.mark.parametrize("cut_after", ["windows_planned", "windows_compared", "preview_checked"])
def test_an_accuracy_run_cut_after_an_event_resumes_to_the_same_certificate_body(cut_after: str):
    full, store = _certify(1.02)
    records = store.read(full.run_id)
    keep = [r.type for r in records].index(cut_after) + 1
    cut = InMemoryEventStore()
    cut.append(full.run_id, 0, [ev.decode_event(r.type, r.version, r.payload) for r in records[:keep]])
    resumed = resume_run(full.run_id, _services(1.02, cut)).certificate
    for section in ("evidence", "primary_metric", "bootstrap", "pairing", "validation", "verdict", "dataset"):
        assert getattr(resumed, section) == getattr(full, section), section
    assert c.to_bytes(replay_certificate(cut, full.run_id)) == c.to_bytes(resumed)


@pytest.mark.parametrize(("filler", "fits"), [(25, True), (26, False)])
def test_a_prompt_and_a_long_label_word_beyond_the_context_are_e201_before_anything_loads(filler: int, fits: bool):
    """The prompts ("Review: example 7 says good Sentiment:") are 6 tokens and dataset.seq_len 32 fits a context
    of 32, but a label word of several tokens is fed after the prompt: 6 + 26 fits, 6 + 27 failed only in the
    first forward pass, after the guards."""
    store = InMemoryEventStore()
    services = _services(1.0, store)
    assert isinstance(services.loader, FakeLoader)
    services.loader.contexts = {"base": 32, "subject": 32}
    pad = " x" * filler
    metric = MetricConfig(kind="accuracy", template=METRIC.template, label_words=[pad + " negative", pad + " positive"])
    config = RunConfig(
        model=ModelConfig(id="base"),
        dataset=DatasetConfig(provider="labelled", seq_len=32, preview_n=4, final_n=4, calibration_n=0, seed=7),
        eval=EvalConfig(metric=metric),
        guards=GuardsConfig(order=["invariants", "invariants"]),
    )
    request = CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id="subject"), tier="balanced", profile="dev"
    )
    if fits:
        assert certify_edit(request, services).certificate.status == "completed"
        return
    with pytest.raises(UsageError) as err:
        certify_edit(request, services)
    assert err.value.code == "E201" and "a label word of 27 tokens" in err.value.message
    assert "the baseline base's context of 32 positions" in err.value.message
    assert err.value.hint == "set dataset.seq_len to 5 or less, or choose shorter label words"
    assert services.loader.loaded == []  # refused before any weights were read
    assert [e.type for e in store.read(store.run_ids()[0])] == ["run_started", "run_failed"]
