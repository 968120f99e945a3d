"""`execution.backend: ray` on recorded-state fakes: the pipeline hands the paired arms to a worker pool that
rebuilds both models from the run's recorded references, and records the same evidence as in process."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit, resume_run
from invarlock.application.certification.pair_workers import build_pair
from invarlock.application.config import EditConfig, ModelConfig, config_to_dict, parse_config
from invarlock.application.config_execution import ExecutionConfig
from invarlock.application.services import Services
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError, UsageError
from invarlock.domain.model import DevicePlacement
from invarlock.domain.system_facts import ExtraStatus
from invarlock.ports.store import EventStore

from tests.fakes.execution import FakeScoringPools
from tests.fakes.models import FakeLoader
from tests.fakes.system import FakeSystemProbe
from tests.unit.conftest import small_config

RAY = ExecutionConfig(backend="ray", address="local", actors=2)
SCALE = EditConfig(name="fake_scale", plan={"factor": 1.002})


def _request(execution: ExecutionConfig | None, edit: EditConfig | None = None) -> CertifyRequest:
    config = msgspec.structs.replace(small_config(edit), execution=execution)
    subject = None if edit is not None else ModelConfig(id="int8ish")
    return CertifyRequest("run" if edit else "certify", config, subject, tier="balanced", profile="dev")


def _with_pools(services: Services, loader: FakeLoader, **kw: object) -> tuple[Services, FakeScoringPools]:
    pools = FakeScoringPools(loader, services.edits, **kw)  # type: ignore[arg-type]
    return dataclasses.replace(services, pools=pools), pools


class _RayProbe(FakeSystemProbe):
    def extras(self) -> list[ExtraStatus]:
        return [ExtraStatus(name="ray", installed={}, missing=("ray",))]


def test_an_unset_execution_section_is_not_recorded_and_a_set_one_is() -> None:
    assert "execution" not in config_to_dict(parse_config({}, source="t.yaml"))
    cfg = parse_config({"execution": {"backend": "ray", "actors": 3}}, source="t.yaml")
    assert config_to_dict(cfg)["execution"] == {"backend": "ray", "address": "local", "actors": 3}


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"actors": 0}, "execution.actors must be in [1, 1024]"),
        ({"backend": "dask"}, "unknown execution.backend 'dask'"),
        ({"address": " "}, "execution.address is empty"),
        ({"workers": 2}, "unknown key 'execution.workers'"),
    ],
)
def test_an_invalid_execution_section_is_e201(section: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_config({"execution": {"backend": "ray", **section}}, source="t.yaml")
    assert caught.value.code == "E201" and words in caught.value.message


@pytest.mark.parametrize("edit", [None, SCALE], ids=["certify", "run"])
def test_a_pool_run_records_the_in_process_evidence(
    services: Services, loader: FakeLoader, edit: EditConfig | None
) -> None:
    local = certify_edit(_request(None, edit), services)
    svc, pools = _with_pools(services, loader)
    pooled = certify_edit(_request(RAY, edit), svc)
    assert pooled.certificate.evidence == local.certificate.evidence
    assert pooled.certificate.primary_metric == local.certificate.primary_metric
    assert pooled.certificate.provenance.config["execution"] == {"backend": "ray", "address": "local", "actors": 2}
    assert "execution" not in local.certificate.provenance.config
    [(address, actors, spec)] = pools.opened
    models = {m.role: m.identity for m in _events(svc.store, pooled.run_id, ev.ModelFingerprinted)}
    assert (address, actors, spec.baseline_sha256) == ("local", 2, models["baseline"].weights_sha256)
    assert spec.subject_sha256 == models["subject"].weights_sha256
    assert (spec.edit_name, dict(spec.edit_plan)) == ((SCALE.name, SCALE.plan) if edit else (None, {}))
    assert pools.checked == ["local", "local"] and pools.closed == 1 and pools.batches == 2


def _events(store: EventStore, run_id: str, kind: type[ev.ModelFingerprinted]) -> list[ev.ModelFingerprinted]:
    decoded = [ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id)]
    return [e for e in decoded if isinstance(e, kind)]


def test_a_worker_holding_other_weights_is_e605(services: Services, loader: FakeLoader) -> None:
    svc, pools = _with_pools(services, loader)
    certify_edit(_request(RAY), svc)
    spec = dataclasses.replace(pools.opened[0][2], subject_sha256="0" * 64)
    with pytest.raises(IntegrityError) as caught:
        build_pair(spec, loader, services.edits)
    assert caught.value.code == "E605" and "scoring worker's subject" in caught.value.message


@pytest.mark.parametrize("edit", [None, SCALE], ids=["certify", "run"])
def test_a_worker_reads_the_checkpoint_once_when_the_subject_is_an_edit_of_the_baseline(
    services: Services, loader: FakeLoader, edit: EditConfig | None
) -> None:
    svc, pools = _with_pools(services, loader)
    certify_edit(_request(RAY, edit), svc)
    spec = pools.opened[0][2]
    loads, duplicates = len(loader.loaded), len(loader.duplicated)
    _, subject = build_pair(spec, loader, services.edits)
    assert subject.identity().weights_sha256 == spec.subject_sha256
    if edit is None:  # a subject checkpoint of its own is read from disk
        assert (loader.loaded[loads:], loader.duplicated[duplicates:]) == ([spec.baseline.ref, "int8ish"], [])
    else:
        assert (loader.loaded[loads:], loader.duplicated[duplicates:]) == ([spec.baseline.ref], [spec.baseline.ref])


def test_a_missing_ray_extra_or_cluster_stops_the_run_before_it_is_recorded(
    services: Services, store: InMemoryEventStore, loader: FakeLoader
) -> None:
    svc, _ = _with_pools(dataclasses.replace(services, probe=_RayProbe()), loader)
    with pytest.raises(UsageError) as missing:
        certify_edit(_request(RAY), svc)
    svc, pools = _with_pools(services, loader, unreachable=True)
    with pytest.raises(UsageError) as unreachable:
        certify_edit(_request(RAY), svc)
    assert (missing.value.code, unreachable.value.code) == ("E105", "E240")
    assert "invarlock[ray]" in missing.value.hint and pools.opened == []
    assert store.run_ids() == []


def test_a_pool_run_cut_after_its_first_scores_resumes_on_a_pool_to_the_same_evidence(
    services: Services, store: InMemoryEventStore, loader: FakeLoader
) -> None:
    svc, _ = _with_pools(services, loader)
    full = certify_edit(_request(RAY), svc)
    records = store.read(full.run_id)
    keep = next(i for i, r in enumerate(records) if r.type == "windows_scored") + 1
    cut = InMemoryEventStore()
    cut.append(full.run_id, 0, [ev.decode_event(r.type, r.version, r.payload) for r in records[:keep]])
    resumed_svc, pools = _with_pools(dataclasses.replace(services, store=cut), loader)
    resumed = resume_run(full.run_id, resumed_svc)
    assert resumed.certificate.evidence == full.certificate.evidence
    assert pools.checked[0] == "local" and len(pools.opened) == 1 and pools.closed == 1


def test_the_workers_load_both_models_with_the_runs_device_map(services: Services, loader: FakeLoader) -> None:
    placed = {"device_map": "auto", "max_memory": {"cpu": "2GiB", "disk": "20GiB"}}
    request = _request(RAY)
    model = msgspec.structs.replace(request.config.model, **placed)
    config = msgspec.structs.replace(request.config, model=model)
    subject = msgspec.structs.replace(model, id="int8ish")
    svc, pools = _with_pools(services, loader)
    certify_edit(dataclasses.replace(request, config=config, subject=subject), svc)
    [(_, _, spec)] = pools.opened
    placement = DevicePlacement(device_map="auto", max_memory=placed["max_memory"])
    assert spec.baseline.options.placement == spec.subject.options.placement == placement
    here, workers = loader.options[:2], loader.options[-2:]
    assert loader.loaded[-2:] == ["base", "int8ish"] and workers == here
    assert all(o.placement == placement and o.device == "auto" for o in workers)


@pytest.mark.parametrize("value", ["x", "0", "-1", "2.5", "٣"])
def test_the_ray_kill_test_hook_refuses_anything_but_a_positive_count_by_name(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was int(value): text ended the run in E999 (ValueError), 0 or a negative count was silently ignored."""
    from invarlock.cli.execution import TEST_KILL_AFTER_ENV, _kill_after

    monkeypatch.setenv(TEST_KILL_AFTER_ENV, value)
    with pytest.raises(UsageError) as refused:
        _kill_after()
    assert refused.value.code == "E200" and TEST_KILL_AFTER_ENV in refused.value.message
    monkeypatch.setenv(TEST_KILL_AFTER_ENV, "3")
    assert _kill_after() == 3
