"""`calibrate --resume` on the fakes: a suite stopped in a case goes on where it stopped (the certified cases kept,
the stopped run finished, nothing scored again), and refuses certificates that are not this suite's in this store."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import msgspec
import numpy as np
import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.calibrate.calibration import run_suite
from invarlock.application.calibrate.calibration_resume import Resumption
from invarlock.application.calibrate.calibration_rows import CaseRow
from invarlock.application.certification.certify import CertifyOutcome
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError, RunInterrupted, UsageError

from tests.fakes.models import FakeLoader
from tests.unit.test_calibration_rows import _suite

SUITE = _suite(["spectral"])


class StoppingStore(InMemoryEventStore):
    """Ctrl-C on the append that would take run `stop_run` past `stop_at` events (nothing of that append written)."""

    def __init__(self) -> None:
        super().__init__()
        self.stop_run: str | None = None
        self.stop_at = 0

    def append(self, run_id: str, expected_seq: int, events: Sequence[ev.Event]) -> list[ev.RecordedEvent]:
        if run_id == self.stop_run and len(self.read(run_id)) + len(events) > self.stop_at:
            raise KeyboardInterrupt
        return super().append(run_id, expected_seq, events)


def _services(store: InMemoryEventStore, services: Services, *, indexed: bool) -> Services:
    ticks = itertools.count()  # run_started times in order, whatever the number of events
    clock = lambda: f"2026-01-01T00:{(t := next(ticks)) // 60:02d}:{t % 60:02d}.000000Z"  # noqa: E731
    return dataclasses.replace(services, store=store, clock=clock, index=store if indexed else None)


def _stopped_in_second_case(svc: Services, store: StoppingStore, at: int) -> dict[str, c.Certificate]:
    """Run the suite until Ctrl-C in its second case (run-1) at `at` events; the certificates --out would hold."""
    written: dict[str, c.Certificate] = {}
    store.stop_run, store.stop_at = "run-1", at

    def write(row: CaseRow, outcome: CertifyOutcome) -> None:
        written[row.case] = outcome.certificate

    with pytest.raises(RunInterrupted) as stopped:
        run_suite(SUITE, svc, write)
    assert stopped.value.run_id == "run-1" and list(written) == ["identical"]
    store.stop_run = None
    return written


@pytest.mark.parametrize("indexed", [False, True])
@pytest.mark.parametrize("at", [3, 8])
def test_a_suite_stopped_in_a_case_resumes_that_run_and_keeps_the_cases_before_it(
    services: Services, indexed: bool, at: int
) -> None:
    store = StoppingStore()
    svc = _services(store, services, indexed=indexed)
    written = _stopped_in_second_case(svc, store, at)
    scored_before = len(store.read("run-1"))
    resumed = run_suite(SUITE, svc, outcome_of=Resumption(svc, written))
    assert [r.run_id for r in resumed] == ["run-0", "run-1"] and store.run_ids() == ["run-0", "run-1"]
    assert resumed[0].certificate_digest == written["identical"].digest  # kept, not certified again
    assert len(store.read("run-1")) > scored_before and resumed[1].verdict == "FAIL"
    fresh = run_suite(SUITE, _services(InMemoryEventStore(), services, indexed=indexed))
    strip = lambda row: msgspec.structs.replace(row, run_id="", certificate_digest="", guards={})  # noqa: E731
    assert [strip(r) for r in resumed] == [strip(r) for r in fresh]  # the same table as an uninterrupted suite
    assert [sorted(r.guards) for r in resumed] == [sorted(r.guards) for r in fresh]


def test_a_case_certified_but_not_written_takes_its_certificate_from_the_store(services: Services) -> None:
    store = StoppingStore()
    svc = _services(store, services, indexed=True)
    run_suite(SUITE, svc)  # both cases completed; --out lost the second certificate (killed before writing it)
    kept = {"identical": c.from_bytes(c.to_bytes(_replayed(svc, "run-0")))}
    rows = run_suite(SUITE, svc, outcome_of=Resumption(svc, kept))
    assert [r.run_id for r in rows] == ["run-0", "run-1"] and store.run_ids() == ["run-0", "run-1"]


def _replayed(svc: Services, run_id: str) -> c.Certificate:
    from invarlock.application.replay.replay import replay_certificate

    return replay_certificate(svc.store, run_id)


def test_a_certificate_this_store_did_not_record_is_refused(services: Services) -> None:
    store = StoppingStore()
    svc = _services(store, services, indexed=True)
    written = _stopped_in_second_case(svc, store, 3)
    forged = c.seal(msgspec.structs.replace(written["identical"], issued_at="2026-02-02T00:00:00Z"))
    with pytest.raises(IntegrityError) as caught:
        run_suite(SUITE, svc, outcome_of=Resumption(svc, {"identical": forged}))
    assert caught.value.code == "E605" and "not the one run run-0 recorded" in caught.value.message
    assert store.run_ids() == ["run-0", "run-1"] and len(store.read("run-1")) == 3  # nothing resumed


@pytest.mark.parametrize("edit", ["a field edited, its digest kept", "another store's run"])
def test_an_edited_or_foreign_certificate_is_refused_naming_the_case(services: Services, edit: str) -> None:
    """The tools hunt: a kept file whose status was edited, its digest field left as issued, was kept (only the
    digest fields were compared); one naming a run of another store was E404 naming neither case nor file."""
    store = StoppingStore()
    svc = _services(store, services, indexed=True)
    written = _stopped_in_second_case(svc, store, 3)
    kept = written["identical"]
    if edit == "another store's run":
        kept = msgspec.structs.replace(kept, run_id="run-elsewhere")
    else:
        kept = msgspec.structs.replace(kept, status="rolled_back")
    with pytest.raises(IntegrityError) as caught:
        run_suite(SUITE, svc, outcome_of=Resumption(svc, {"identical": kept}))
    assert caught.value.code == "E605" and caught.value.message.startswith("--out's certificate of case identical")


def test_another_cases_certificate_is_refused_naming_what_differs(services: Services) -> None:
    store = StoppingStore()
    svc = _services(store, services, indexed=False)
    run_suite(SUITE, svc)
    swapped = {"identical": _replayed(svc, "run-1"), "down_0.8": _replayed(svc, "run-0")}
    with pytest.raises(IntegrityError) as caught:
        run_suite(SUITE, svc, outcome_of=Resumption(svc, swapped))
    assert caught.value.code == "E605", caught.value.message
    assert caught.value.message.startswith("--out's certificate of case identical (run run-1) is not of this suite's")
    assert "config's edit differs" in caught.value.message


def test_a_suite_of_another_tier_does_not_continue_the_stopped_run(services: Services) -> None:
    store = StoppingStore()
    svc = _services(store, services, indexed=True)
    written = _stopped_in_second_case(svc, store, 3)
    other = msgspec.structs.replace(SUITE, tier="conservative")
    with pytest.raises(IntegrityError) as caught:
        run_suite(other, svc, outcome_of=Resumption(svc, written))
    assert "its policy differs from the suite's tier" in caught.value.message


def test_nothing_to_resume_is_refused_before_anything_runs(services: Services) -> None:
    store = StoppingStore()
    svc = _services(store, services, indexed=True)
    with pytest.raises(UsageError) as caught:
        run_suite(SUITE, svc, outcome_of=Resumption(svc, {}))
    assert caught.value.code == "E404" and "no run of case identical" in caught.value.message
    assert store.run_ids() == []


@pytest.mark.parametrize("stopped", ["in the second case", "after both cases, their files not written"])
def test_a_model_changed_at_its_path_since_the_suite_stopped_is_refused(
    services: Services, loader: FakeLoader, stopped: str
) -> None:
    """The tools hunt: the kept and completed cases were taken from the store without loading the model, so a
    table mixed the figures of two weights (certify --resume compares fingerprints). Now the model is loaded once
    and its fingerprint compared with each such case's run."""
    store = StoppingStore()
    svc = _services(store, services, indexed=True)
    if stopped == "in the second case":
        kept = _stopped_in_second_case(svc, store, 3)
    else:
        run_suite(SUITE, svc)
        kept = {}
        loader.loaded.clear()
        assert [r.run_id for r in run_suite(SUITE, svc, outcome_of=Resumption(svc, kept))] == ["run-0", "run-1"]
        assert loader.loaded == ["ve_base"]  # the model loaded once to fingerprint it, not once a case
    before = {run_id: len(store.read(run_id)) for run_id in store.run_ids()}
    original = loader.models["ve_base"]
    changed = {name: w * np.float32(1.01) for name, w in original.weights.items()}
    loader.models["ve_base"] = dataclasses.replace(original, weights=changed)
    with pytest.raises(IntegrityError) as caught:
        run_suite(SUITE, svc, outcome_of=Resumption(svc, kept))
    assert caught.value.code == "E605", caught.value.message
    assert caught.value.message.startswith("ve_base is not the model case identical's run run-0")
    assert {run_id: len(store.read(run_id)) for run_id in store.run_ids()} == before  # nothing recorded
