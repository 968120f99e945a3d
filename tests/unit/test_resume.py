"""resume_run on recorded-state fakes: a run cut at any event finishes with the uninterrupted run's numbers."""

from __future__ import annotations

import dataclasses

import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit, resume_run
from invarlock.application.config import EditConfig, ModelConfig
from invarlock.application.replay.replay import replay_certificate
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError, UsageError

from tests.fakes.legacy_events import as_v1
from tests.fakes.models import FakeLoader
from tests.unit.conftest import small_config


def _request(subject: str | None = "int8ish", edit: EditConfig | None = None) -> CertifyRequest:
    command = "certify" if subject else "run"
    subject_cfg = ModelConfig(id=subject) if subject else None
    return CertifyRequest(command, small_config(edit), subject_cfg, tier="balanced", profile="dev")


def _cut(store: InMemoryEventStore, run_id: str, keep: int) -> InMemoryEventStore:
    """A store holding only the first `keep` events of the run, as a SIGKILL would leave it."""
    cut = InMemoryEventStore()
    records = store.read(run_id)[:keep]
    cut.append(run_id, 0, [ev.decode_event(r.type, r.version, r.payload) for r in records])
    return cut


def _types(store: InMemoryEventStore, run_id: str) -> list[str]:
    return [r.type for r in store.read(run_id)]


def _scored_windows(loader: FakeLoader) -> int:
    return sum(len(model.scored) for model in loader.instances)


def _pairs_scored(records: list[ev.RecordedEvent]) -> int:
    """Windows scored by both models in `records` (lockstep re-scores a window missing either score)."""
    rows: dict[tuple[str, str], set[int]] = {}
    for r in records:
        event = ev.decode_event(r.type, r.version, r.payload)
        if isinstance(event, ev.WindowsScored):
            rows.setdefault((event.role, event.arm), set()).update(row.window_id for row in event.rows)
    return sum(len(rows.get(("baseline", a), set()) & rows.get(("subject", a), set())) for a in ("preview", "final"))


@pytest.mark.parametrize("edit", [None, EditConfig(name="fake_scale", plan={"factor": 1.002})], ids=["certify", "run"])
@pytest.mark.parametrize("cut_after", ["run_started", "windows_planned", "windows_scored", "preview_assessed", "final"])
def test_a_run_cut_anywhere_resumes_to_the_same_evidence_and_metric(
    services: Services, store: InMemoryEventStore, loader: FakeLoader, edit: EditConfig | None, cut_after: str
) -> None:
    full = certify_edit(_request(None if edit else "int8ish", edit), services)
    types = _types(store, full.run_id)
    keep = len(types) - 4 if cut_after == "final" else types.index(cut_after) + 1
    already = _pairs_scored(store.read(full.run_id)[:keep])
    cut = _cut(store, full.run_id, keep)
    loader.instances.clear()
    resumed = resume_run(full.run_id, dataclasses.replace(services, store=cut))
    for section in ("evidence", "primary_metric", "bootstrap", "pairing", "validation", "verdict", "dataset"):
        assert getattr(resumed.certificate, section) == getattr(full.certificate, section), section
    evidence = full.certificate.evidence
    assert evidence.final is not None
    planned = 2 * (len(evidence.preview.window_ids) + len(evidence.final.window_ids))
    assert _scored_windows(loader) == planned - 2 * already
    assert c.to_bytes(replay_certificate(cut, full.run_id)) == c.to_bytes(resumed.certificate)
    assert _types(cut, full.run_id)[-2:] == ["certificate_issued", "run_completed"]


def test_a_completed_or_failed_run_is_not_resumed(services: Services, store: InMemoryEventStore) -> None:
    done = certify_edit(_request("same"), services)
    with pytest.raises(UsageError) as err:
        resume_run(done.run_id, services)
    assert err.value.code == "E406" and "already has its certificate" in err.value.message
    with pytest.raises(UsageError):
        certify_edit(_request("no-such-model"), services)
    failed = store.run_ids()[-1]
    with pytest.raises(UsageError) as err:
        resume_run(failed, services)
    assert err.value.code == "E406" and "failed" in err.value.message
    with pytest.raises(UsageError) as err:
        resume_run("never-started", services)
    assert err.value.code == "E404"


def test_replay_of_a_run_without_certificate_points_an_incomplete_one_to_resume(
    services: Services, store: InMemoryEventStore
) -> None:
    """E405 said "re-run it" for a killed run too, which `certify --resume` finishes without re-scoring."""
    full = certify_edit(_request("int8ish"), services)
    cut = _cut(store, full.run_id, _types(store, full.run_id).index("windows_scored") + 1)
    with pytest.raises(UsageError) as err:
        replay_certificate(cut, full.run_id)
    assert err.value.code == "E405" and "is incomplete" in err.value.message
    assert f"invarlock certify --resume {full.run_id}" in err.value.hint
    with pytest.raises(UsageError) as err:  # the compat hunt: a resume by this release is E605
        replay_certificate(cut, full.run_id, tool_version="9.9.9")
    assert err.value.hint.startswith(f"only invarlock {services.tool_version}, which started it, can finish it")
    with pytest.raises(UsageError) as err:
        replay_certificate(cut, full.run_id, tool_version=services.tool_version)
    assert err.value.hint.startswith(f"finish it with `invarlock certify --resume {full.run_id}`")
    with pytest.raises(UsageError):
        certify_edit(_request("no-such-model"), services)
    failed = store.run_ids()[-1]
    with pytest.raises(UsageError) as err:
        replay_certificate(store, failed)
    assert err.value.code == "E405" and "failed (" in err.value.message and "--resume" not in err.value.hint


def test_a_changed_subject_is_refused_and_recorded(services: Services, store: InMemoryEventStore, loader) -> None:
    full = certify_edit(_request("int8ish"), services)
    cut = _cut(store, full.run_id, _types(store, full.run_id).index("windows_scored") + 1)
    loader.models["int8ish"].weights["w"][0, 0] = 2.0  # another checkpoint at the same path
    with pytest.raises(IntegrityError) as err:
        resume_run(full.run_id, dataclasses.replace(services, store=cut))
    assert err.value.code == "E605" and "subject model" in err.value.message
    assert _types(cut, full.run_id)[-1] == "run_failed"


def test_a_usage_error_of_the_resume_itself_is_not_recorded_and_the_run_resumes_once_fixed(
    services: Services, store: InMemoryEventStore, loader
) -> None:
    # A relative path read from another folder (E101/E301) was recorded as the run's failure: never resumable again.
    full = certify_edit(_request("int8ish"), services)
    cut = _cut(store, full.run_id, _types(store, full.run_id).index("windows_scored") + 1)
    kept = _types(cut, full.run_id)
    subject = loader.models.pop("int8ish")
    with pytest.raises(UsageError) as err:
        resume_run(full.run_id, dataclasses.replace(services, store=cut))
    assert err.value.code == "E101" and f"run {full.run_id} keeps what it recorded and is not failed" in err.value.hint
    assert _types(cut, full.run_id) == kept
    loader.models["int8ish"] = subject
    resumed = resume_run(full.run_id, dataclasses.replace(services, store=cut)).certificate
    assert (resumed.evidence, resumed.verdict) == (full.certificate.evidence, full.certificate.verdict)


def test_a_plugin_fault_of_the_resume_is_not_recorded_and_the_run_resumes_once_fixed(
    services: Services, store: InMemoryEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugins hunt: a plugin dataset that could not read its text during a resume raised its own OSError, the
    E224 was recorded as the run's failure, and the run could never be resumed (a UsageError was not recorded)."""
    from tests.fakes.models import FakeModel

    full = certify_edit(_request("int8ish"), services)
    cut = _cut(store, full.run_id, _types(store, full.run_id).index("windows_scored") + 1)
    kept = _types(cut, full.run_id)

    def unreachable(*args: object, **kwargs: object) -> None:
        raise OSError("the plugin's text is out of reach")

    def fault(exc: BaseException) -> UsageError | None:
        return UsageError("E224", "plugin p raised OSError", "fix or uninstall p") if isinstance(exc, OSError) else None

    monkeypatch.setattr(FakeModel, "score_pair", unreachable)
    monkeypatch.setattr(FakeModel, "score", unreachable)
    with pytest.raises(UsageError) as err:
        resume_run(full.run_id, dataclasses.replace(services, store=cut, fault=fault))
    assert err.value.code == "E224" and f"run {full.run_id} keeps what it recorded and is not failed" in err.value.hint
    assert _types(cut, full.run_id) == kept
    monkeypatch.undo()
    resumed = resume_run(full.run_id, dataclasses.replace(services, store=cut, fault=fault)).certificate
    assert (resumed.evidence, resumed.verdict) == (full.certificate.evidence, full.certificate.verdict)


def test_another_tool_version_is_refused(services: Services, store: InMemoryEventStore) -> None:
    full = certify_edit(_request("int8ish"), services)
    cut = _cut(store, full.run_id, 3)
    with pytest.raises(IntegrityError) as err:
        resume_run(full.run_id, dataclasses.replace(services, store=cut, tool_version="9.9.9"))
    assert err.value.code == "E605" and "9.9.9" in err.value.message


def test_another_machine_or_thread_count_is_refused_and_leaves_the_run_resumable(
    services: Services, store: InMemoryEventStore
) -> None:
    """The windows left would be scored elsewhere while the certificate and the scoring key (which later runs copy
    baseline scores by) state the first machine (the execution hunt)."""
    full = certify_edit(_request("int8ish"), services)
    cut = _cut(store, full.run_id, _types(store, full.run_id).index("windows_scored") + 1)
    kept = _types(cut, full.run_id)
    elsewhere = dataclasses.replace(services, store=cut, environment=lambda: {"python": "test", "torch_threads": "8"})
    with pytest.raises(IntegrityError) as err:
        resume_run(full.run_id, elsewhere)
    said = f"cannot resume run {full.run_id}: it was started where torch_threads was None, here it is '8'"
    assert (err.value.code, err.value.message) == ("E605", said)
    assert "OMP_NUM_THREADS" in err.value.hint and _types(cut, full.run_id) == kept  # nothing recorded
    resumed = resume_run(full.run_id, dataclasses.replace(services, store=cut)).certificate
    assert resumed.evidence == full.certificate.evidence


@pytest.mark.parametrize("cut_after", ["windows_planned", "windows_scored"])
def test_a_run_whose_stream_holds_v1_events_resumes_to_the_same_certificate(
    services: Services, store: InMemoryEventStore, cut_after: str
) -> None:
    full = certify_edit(_request(None, EditConfig(name="fake_scale", plan={"factor": 1.002})), services)
    records = store.read(full.run_id)[: _types(store, full.run_id).index(cut_after) + 1]
    written_by_v1 = InMemoryEventStore()
    written_by_v1.append(full.run_id, 0, [as_v1(ev.decode_event(r.type, r.version, r.payload)) for r in records])
    versions = {r.type: r.version for r in written_by_v1.read(full.run_id)}
    assert [versions[t] for t in ("model_fingerprinted", "edit_applied", "windows_planned")] == [1, 1, 1]
    resumed = resume_run(full.run_id, dataclasses.replace(services, store=written_by_v1))
    for section in ("baseline", "subject", "edit", "dataset", "evidence", "primary_metric", "validation", "policy"):
        assert getattr(resumed.certificate, section) == getattr(full.certificate, section), section
    assert c.to_bytes(replay_certificate(written_by_v1, full.run_id)) == c.to_bytes(resumed.certificate)


def test_resuming_from_a_store_that_does_not_exist_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """It said "no run ... in the event store" (E404), as if the store existed; nothing is created."""
    import invarlock

    missing = tmp_path / "no" / "such.duckdb"
    with pytest.raises(UsageError) as err:
        invarlock.resume_certify("01a244a7-cb54-761f-204f-31a17f06f525", events=missing)
    assert err.value.code == "E506" and err.value.message == f"event store {missing} does not exist"
    assert not (tmp_path / "no").exists()
