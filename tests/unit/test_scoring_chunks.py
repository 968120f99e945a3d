"""Scoring hands its runner whole multiples of the runner's batch size: a runner pads the last forward pass of
each call to its batch size (window_batches.token_ids), so calls of 16 windows to a runner of 32 windows per pass (the
default on accelerators) spent half of every pass on padding. Each call is one record per model."""

from __future__ import annotations

import msgspec
import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.certification.scoring import EVENT_BATCH, chunk_size
from invarlock.application.config import ModelConfig, RunConfig
from invarlock.application.services import Services
from invarlock.domain import events as ev

from tests.fakes.models import FakeLoader
from tests.unit.conftest import small_config


@pytest.mark.parametrize(("batch", "chunk"), [(1, 16), (3, 18), (8, 16), (12, 24), (16, 16), (32, 32), (64, 64)])
def test_a_chunk_is_the_least_multiple_of_the_batch_size_holding_event_batch_windows(batch: int, chunk: int) -> None:
    assert EVENT_BATCH == 16
    assert chunk_size(batch) == chunk


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        chunk_size(0)


def _config(batch_size: int | None) -> RunConfig:
    cfg = small_config()
    dataset = msgspec.structs.replace(cfg.dataset, preview_n=30, final_n=50)
    return msgspec.structs.replace(cfg, dataset=dataset, eval=msgspec.structs.replace(cfg.eval, batch_size=batch_size))


def _record_sizes(services: Services, store: InMemoryEventStore, batch_size: int | None) -> dict[str, list[int]]:
    subject = ModelConfig(id="int8ish")
    request = CertifyRequest("certify", _config(batch_size), subject, tier="balanced", profile="dev")
    run_id = certify_edit(request, services).run_id
    sizes: dict[str, list[int]] = {}
    for record in store.read(run_id):
        event = ev.decode_event(record.type, record.version, record.payload)
        if isinstance(event, ev.WindowsScored) and event.role == "baseline":
            sizes.setdefault(event.arm, []).append(len(event.rows))
    return sizes


@pytest.mark.parametrize(
    ("batch_size", "preview", "final"),
    [
        (None, [16, 14], [16, 16, 16, 2]),  # the fake's default, 8 windows per pass, as the CPU default
        (32, [30], [32, 18]),
        (12, [24, 6], [24, 24, 2]),
    ],
)
def test_each_record_and_scoring_call_holds_a_multiple_of_the_runners_batch_size(
    services: Services,
    store: InMemoryEventStore,
    loader: FakeLoader,
    batch_size: int | None,
    preview: list[int],
    final: list[int],
) -> None:
    assert _record_sizes(services, store, batch_size) == {"preview": preview, "final": final}
    assert {m.batch_size for m in loader.instances} == {batch_size or 8}
    assert set(loader.batch_sizes) == {batch_size}
