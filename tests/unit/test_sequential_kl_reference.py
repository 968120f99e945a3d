"""`eval.sequential` with KL and top-1 agreement, on the fake models: the baseline's side of them is kept by its pass
(ports.kept_reference.KeptReference), room for it is checked before any measurement, it holds once what it shares with
the subject, a full disk leaves the run resumable, and an adapter that cannot keep it is refused."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from invarlock.application.certification.certify import certify_edit, resume_run
from invarlock.application.services import Services
from invarlock.domain import events as ev
from invarlock.domain.errors import ResourceShortage, UsageError

from tests.fakes.killing_store import KillingStore
from tests.fakes.loaders import ReleasingLoader
from tests.fakes.models import FakeLoader, FakeModel
from tests.fakes.references import FakeReference
from tests.unit.test_sequential_run import SHRINK, _compared, _plan, _request


def test_the_kl_reference_is_kept_by_the_baseline_pass_released_with_it_and_closed(
    services: Services, loader: FakeLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[FakeReference] = []
    keep, matrices, check_room = FakeModel.kept_reference, FakeModel.matrices, FakeReference.check_room
    steps: list[str] = []
    monkeypatch.setattr(FakeModel, "kept_reference", lambda self: made.append(keep(self)) or made[-1])
    monkeypatch.setattr(FakeModel, "matrices", lambda self: steps.append(f"matrices {self.ref}") or matrices(self))
    monkeypatch.setattr(FakeReference, "check_room", lambda self, n: steps.append("check_room") or check_room(self, n))
    releasing = ReleasingLoader(loader.models)
    one = certify_edit(_request("int8ish", sequential=True, kl=True), dataclasses.replace(services, loader=releasing))
    assert steps[:2] == ["check_room", "matrices base"], "room for the reference before any measurement"
    assert releasing.alive_at_load == [[], []], "the reference does not keep the baseline alive"
    [reference] = made
    assert reference.released and reference.closed and reference.model is None
    windows = 8 + 12
    assert len(reference.kept) == windows and sorted(reference.paired) == sorted(reference.kept)
    seq_len = _request("int8ish", sequential=True, kl=True).config.dataset.seq_len
    assert reference.room_checked == [windows * seq_len], "room for both arms' windows, once, before the pass"
    assert one.certificate.evidence.final is not None and one.certificate.evidence.final.comparisons is not None


@pytest.mark.parametrize("subject", ["int8ish", None], ids=["a subject checkpoint", "run: a copy of the baseline"])
def test_the_kept_reference_holds_once_what_it_shares_with_the_subject_before_the_subject_is_fingerprinted(
    services: Services, monkeypatch: pytest.MonkeyPatch, subject: str | None
) -> None:
    calls: list[tuple[str, str]] = []
    identity, hold_once = FakeModel.identity, FakeReference.hold_once

    def fingerprinted(self: FakeModel) -> Any:
        calls.append(("identity", self.ref))
        return identity(self)

    def held(self: FakeReference, other: Any) -> None:
        calls.append(("hold_once", other.ref))
        hold_once(self, other)

    monkeypatch.setattr(FakeModel, "identity", fingerprinted)
    monkeypatch.setattr(FakeReference, "hold_once", held)
    edit, base = (None, "base") if subject else (SHRINK, "ve_base")
    certify_edit(_request(subject, sequential=True, kl=True, base=base, edit=edit), services)
    ref = subject or base
    assert [call for call in calls if call[0] == "hold_once"] == [("hold_once", ref)], "once, when the subject is there"
    held_at = calls.index(("hold_once", ref))
    assert ("identity", ref) in calls[held_at:], "the subject is fingerprinted after"
    assert subject is None or ("identity", subject) not in calls[:held_at]


def test_a_disk_that_fills_during_the_baseline_pass_leaves_the_run_resumable(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E608 from the kept reference is the machine's shortage, not the run's inputs: nothing is recorded as failed,
    the hint names the run to go on with once there is room, and the resumed run certifies what a whole run does."""
    keep = FakeReference.keep

    def filling_up(self: FakeReference, windows: Any, progress: Any = None) -> None:
        if self.kept:  # the final arm's windows: the disk is full by then
            raise ResourceShortage("E608", "the fake temporary folder's disk is full", "free space there")
        keep(self, windows, progress)

    monkeypatch.setattr(FakeReference, "keep", filling_up)
    request = _request("int8ish", sequential=True, kl=True)
    with pytest.raises(ResourceShortage) as caught:
        certify_edit(request, services)
    run_id = caught.value.run_id
    assert run_id is not None and caught.value.code == "E608"
    resume = f"`invarlock certify --resume {run_id}`"
    assert caught.value.hint == f"free space there; run {run_id} goes on where it stopped with {resume}"
    monkeypatch.setattr(FakeReference, "keep", keep)
    resumed = resume_run(run_id, services)  # E406 had the run been recorded as failed
    assert _compared(resumed.certificate) == _compared(certify_edit(request, services).certificate)


def test_a_killed_sequential_kl_run_keeps_only_the_windows_left_to_pair(services: Services, loader: FakeLoader) -> None:
    final_pairs = KillingStore(
        services.store,
        lambda events: any(isinstance(e, ev.WindowsCompared) and e.arm == "final" for e in events),
        before=True,
    )
    request = _request("int8ish", sequential=True, kl=True)
    with pytest.raises(KeyboardInterrupt):
        certify_edit(request, dataclasses.replace(services, store=final_pairs))  # type: ignore[arg-type]
    final = {w.window_id for w in _plan(services, final_pairs.killed[0]).arm("final")}
    loaded_before = len(loader.instances)
    resumed = resume_run(final_pairs.killed[0], services)
    baseline = loader.instances[loaded_before]
    [reference] = baseline.references
    # the baseline's final scores were recorded before the kill; only the final arm's pairs were not
    assert baseline.ref == "base" and set(reference.kept) == final and baseline.tapped == []
    assert reference.room_checked == [len(final) * request.config.dataset.seq_len], "room for what is left only"
    whole = certify_edit(request, services)
    assert _compared(resumed.certificate) == _compared(whole.certificate)


def test_an_adapter_that_cannot_keep_its_side_of_kl_is_refused_after_the_baseline_loads(
    services: Services, loader: FakeLoader
) -> None:
    class Unkeeping(FakeModel):
        kept_reference = None  # type: ignore[assignment]

    loader.models["base"] = Unkeeping(ref="base")
    with pytest.raises(UsageError) as err:
        certify_edit(_request("int8ish", sequential=True, kl=True), services)
    assert err.value.code == "E104" and "the fake adapter cannot keep it" in err.value.message
    assert "eval.secondary.measure: false" in err.value.hint
