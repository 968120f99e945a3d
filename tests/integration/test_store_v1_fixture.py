"""An event store written by an earlier release (tests/fixtures/store_v1) still replays to its certificates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.replay.replay import replay_certificate
from invarlock.domain import certificate as c

from tests.fakes.cli import run_cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"
CERTS = {"run.cert.json": 1, "certify.cert.json": 0}  # file -> verify --events exit code (the run FAILs its gates)


@pytest.fixture
def store_copy(tmp_path: Path) -> Path:
    """A writable copy, so that no test can alter the fixture."""
    return Path(shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "invarlock.duckdb"))


@pytest.mark.parametrize("name", sorted(CERTS))
def test_replay_is_byte_identical_to_the_issued_certificate(store_copy: Path, name: str) -> None:
    issued = (FIXTURE / name).read_bytes()
    run_id = c.from_bytes(issued).run_id
    rebuilt = replay_certificate(DuckDBEventStore(store_copy, read_only=True), run_id)
    assert c.to_bytes(rebuilt) == issued


@pytest.mark.parametrize("name", sorted(CERTS))
def test_verify_with_the_events_accepts_the_issued_certificate(store_copy: Path, name: str) -> None:
    args = ["verify", FIXTURE / name, "--events", store_copy, "--pubkey", FIXTURE / "issuer.pub"]
    code, out, err = run_cli(*(args if name == "run.cert.json" else args[:-2]))
    assert code == CERTS[name], out + err
    assert "E6" not in out + err and "E5" not in out + err


def test_every_stream_run_passes_the_chain_check(store_copy: Path) -> None:
    code, out, err = run_cli("runs", "--events", store_copy, "--json")
    assert code == 0, err
    runs = json.loads(out)
    assert len(runs) == 2 and all(r["chain_ok"] and r["problem"] is None for r in runs)


def test_the_audit_stream_still_decodes(store_copy: Path) -> None:
    store = DuckDBEventStore(store_copy, read_only=True)
    [audit] = [r for r in store.run_ids() if store.read(r)[0].type == "reexecution_started"]
    code, out, err = run_cli("events", audit, "--events", store_copy, "--json")
    assert code == 0, err
    assert [e["type"] for e in json.loads(out)][-1] == "reexecution_finished"


def test_the_timeline_shows_v1_events_upcast_with_their_value_objects_in_line(store_copy: Path) -> None:
    run_id = c.from_bytes((FIXTURE / "run.cert.json").read_bytes()).run_id
    code, out, err = run_cli("events", run_id, "--events", store_copy)
    assert code == 0, err
    lines = {line.split()[2]: line for line in reversed(out.splitlines())}  # first line of each type
    assert '"role": "baseline", "ref": "demo:smollm2-135m", "adapter": "hf_causal"' in lines["model_fingerprinted"]
    assert '"name": "quant_rtn", "plan_digest": ' in lines["edit_applied"]
    assert '"provider": "demo:wikipedia", "split": "validation"' in lines["windows_planned"]
    assert '"seconds": 0.029162, "guard": "invariants", "verdict": "pass"' in lines["guard_evaluated"]
    code, out, err = run_cli("events", run_id, "--events", store_copy, "--json")
    [planned] = [e for e in json.loads(out) if e["type"] == "windows_planned"]
    assert planned["version"] == 1 and planned["payload"]["plan"]["windows_available"] == 10178
