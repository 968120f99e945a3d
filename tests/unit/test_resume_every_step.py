"""A run killed after any number of appended events resumes to exactly the uninterrupted run: the same
certificate bytes and the same event stream, hash for hash (fixed clock, run id and guard timer). A signed
run killed after run_completed only lacks its chain seal: resuming it with its key seals it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.adapters.ed25519 import generate_keypair, load_signer
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyOutcome, CertifyRequest, certify_edit, resume_run
from invarlock.application.config import DatasetConfig, EditConfig, GuardsConfig, ModelConfig, RunConfig
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import UsageError
from invarlock.ports.signing import Signer
from invarlock.ports.store import EventStore

from tests.fakes.cli import run_cli
from tests.fakes.models import FakeCorpora, FakeLoader, FakeWeightEdit, words

RUN_ID = "run-killed"


class Killed(BaseException):
    """What SIGKILL does to the writer: nothing after it runs, no run_failed is recorded."""


class KillableStore(InMemoryEventStore):
    """Dies on the append that would take a stream past `limit` events; like a transaction cut short, that
    append writes nothing, so the stream is always a valid prefix."""

    def __init__(self, limit: int | None = None) -> None:
        super().__init__(clock=lambda: "2026-01-01T00:00:00+00:00")
        self.limit = limit

    def append(self, run_id: str, expected_seq: int, events: Sequence[ev.Event]) -> list[ev.RecordedEvent]:
        if self.limit is not None and len(self.read(run_id)) + len(events) > self.limit:
            raise Killed
        return super().append(run_id, expected_seq, events)


def _services(loader: FakeLoader, store: EventStore, **kw: object) -> Services:
    base = Services(
        loader=loader,
        corpora=FakeCorpora(words(120)),
        store=store,
        edits={"fake_weight": FakeWeightEdit()},
        clock=lambda: "2026-01-01T00:00:00.000000Z",
        new_run_id=lambda: RUN_ID,
        environment=lambda: {"python": "test"},
        tool_version="0.0.test",
        timer=lambda: 0.0,
    )
    return dataclasses.replace(base, **kw)


def _request(model: str, edit: EditConfig | None = None, subject: str | None = None, **guards: dict) -> CertifyRequest:
    config = RunConfig(
        model=ModelConfig(id=model),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=8),
        edit=edit,
        guards=GuardsConfig(**guards),
    )
    command = "run" if subject is None else "certify"
    return CertifyRequest(command, config, ModelConfig(id=subject) if subject else None, "balanced", "dev")


SHRINK = EditConfig(name="fake_weight", plan={"weight": "ffn.2.down", "factor": 0.9})
GROW = EditConfig(name="fake_weight", plan={"weight": "ffn.2.down", "factor": 1.5})
SCENARIOS = {
    "edit_with_variance_repair": _request("ve_base", SHRINK),
    "edit_with_spectral_repair": _request("ve_base", GROW, spectral={"repair": True}),
    "rollback": _request("base", subject="broken"),
}


def _kill_then_resume(services: Services, request: CertifyRequest, k: int) -> tuple[KillableStore, CertifyOutcome]:
    """Certify on a store that dies after `k` events, then resume the run on what the store kept."""
    store = KillableStore(limit=k)
    with pytest.raises(Killed):
        certify_edit(request, dataclasses.replace(services, store=store))
    kept = store.read(RUN_ID)
    assert 0 < len(kept) <= k and ev.chain_problems(kept) == []
    store.limit = None
    return store, resume_run(RUN_ID, dataclasses.replace(services, store=store))


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    generate_keypair(tmp_path / "key")
    return load_signer(tmp_path / "key")


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_run_killed_after_any_event_resumes_to_the_uninterrupted_run(
    loader: FakeLoader, signer: Signer, scenario: str, signed: bool
) -> None:
    request = SCENARIOS[scenario]
    services = _services(loader, KillableStore(), signer=signer if signed else None)
    full = certify_edit(request, services)
    stream = services.store.read(RUN_ID)
    if scenario == "rollback":
        assert full.certificate.status == "rollback"
    else:
        assert any(b'"subject_bare"' in r.payload for r in stream), "the guards repaired nothing"
    assert (stream[-1].type == "chain_sealed") is signed
    for k in range(1, len(stream)):
        store, resumed = _kill_then_resume(services, request, k)
        assert c.to_bytes(resumed.certificate) == c.to_bytes(full.certificate), f"killed after {k} events"
        records = store.read(RUN_ID)
        assert ev.chain_problems(records) == []
        assert [r.hash for r in records] == [r.hash for r in stream], f"killed after {k} events"


def test_a_signed_run_killed_before_its_seal_is_sealed_only_by_its_own_key(
    loader: FakeLoader, signer: Signer, tmp_path: Path
) -> None:
    services = _services(loader, KillableStore(), signer=signer)
    request = SCENARIOS["rollback"]
    certify_edit(request, services)
    store = KillableStore(limit=len(services.store.read(RUN_ID)) - 1)
    with pytest.raises(Killed):
        certify_edit(request, dataclasses.replace(services, store=store))
    generate_keypair(tmp_path / "other")
    for key in (None, load_signer(tmp_path / "other")):
        with pytest.raises(UsageError) as err:
            resume_run(RUN_ID, dataclasses.replace(services, store=store, signer=key))
        assert err.value.code == "E406" and "sign" in err.value.message
    assert store.read(RUN_ID)[-1].type == "run_completed"


class _DiesBeforeSeal:
    """A DuckDB store whose writer is killed right before it appends chain_sealed."""

    def __init__(self, inner: DuckDBEventStore) -> None:
        self.inner = inner

    def append(self, run_id: str, expected_seq: int, events: Sequence[ev.Event]) -> list[ev.RecordedEvent]:
        if any(isinstance(e, ev.ChainSealed) for e in events):
            raise Killed
        return self.inner.append(run_id, expected_seq, events)

    def read(self, run_id: str) -> list[ev.RecordedEvent]:
        return self.inner.read(run_id)


@pytest.mark.hf  # `certify --resume` through the CLI needs the hf extra (E105 without torch)
def test_certify_resume_with_the_signing_key_seals_the_run_and_writes_a_certificate_that_verifies(
    loader: FakeLoader, signer: Signer, tmp_path: Path
) -> None:
    db = tmp_path / "ev.duckdb"
    store = _DiesBeforeSeal(DuckDBEventStore(db))
    with pytest.raises(Killed):
        certify_edit(_request("base", subject="int8ish"), _services(loader, store, signer=signer))
    assert store.read(RUN_ID)[-1].type == "run_completed"
    code, _, err = run_cli("certify", "--resume", RUN_ID, "--events", db, "--cert-out", tmp_path / "out", "-q")
    assert code == 2 and err.count("\n") == 1 and "[INVARLOCK:E406]" in err and "--sign-key" in err
    key = tmp_path / "key"
    code, _, err = run_cli(
        "certify", "--resume", RUN_ID, "--events", db, "--cert-out", tmp_path / "out", "--sign-key", key, "-q"
    )
    assert code == 0, err
    assert store.read(RUN_ID)[-1].type == "chain_sealed"
    cert = tmp_path / "out" / "evaluation.cert.json"
    code, out, err = run_cli("verify", cert, "--events", db, "--pubkey", f"{key}.pub", "--require-signature")
    assert code == 0, out + err
