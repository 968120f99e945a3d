"""A real DuckDB event file altered after the run: `verify --events` exits 3 and names the broken link."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain.events import chain_hash

from tests.fakes.cli import run_cli
from tests.unit.conftest import loader, services, small_config, store  # noqa: F401 (fixtures used by name)

Tamper = Callable[[duckdb.DuckDBPyConnection], None]


@pytest.fixture
def issued(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """A certificate file and the DuckDB event file its run was recorded in."""
    svc: Services = request.getfixturevalue("services")
    db = tmp_path / "ev.duckdb"
    run = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    outcome = certify_edit(run, dataclasses.replace(svc, store=DuckDBEventStore(db)))
    cert = tmp_path / "evaluation.cert.json"
    cert.write_bytes(c.to_bytes(outcome.certificate))
    return cert, db


def _scored(con: duckdb.DuckDBPyConnection) -> int:
    """Sequence number of the run's first windows_scored event (the one the tampering cases alter)."""
    return int(con.execute("SELECT min(seq) FROM events WHERE type = 'windows_scored'").fetchone()[0])


def _edit_payload(con: duckdb.DuckDBPyConnection) -> None:
    seq = _scored(con)
    payload = json.loads(con.execute("SELECT payload FROM events WHERE seq = ?", [seq]).fetchone()[0])
    payload["rows"][0]["nll_sum"] += 1e-6
    con.execute("UPDATE events SET payload = ? WHERE seq = ?", [json.dumps(payload), seq])


def _delete(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM events WHERE seq = ?", [_scored(con)])


def _reorder(con: duckdb.DuckDBPyConnection) -> None:
    seq = _scored(con)
    con.execute("UPDATE events SET seq = -1 WHERE seq = ?", [seq])
    con.execute("UPDATE events SET seq = ? WHERE seq = ?", [seq, seq + 1])
    con.execute("UPDATE events SET seq = ? WHERE seq = -1", [seq + 1])


def _append_forged(con: duckdb.DuckDBPyConnection) -> None:
    seq, head = con.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    payload = con.execute("SELECT payload FROM events WHERE seq = ?", [_scored(con)]).fetchone()[0].encode()
    forged = chain_hash(head, "windows_scored", 1, payload)  # a forger can extend an unkeyed chain correctly
    con.execute(
        "INSERT INTO events SELECT run_id, ?, 'windows_scored', 1, ?, recorded_at, ?, ? FROM events WHERE seq = ?",
        [seq + 1, payload.decode(), head, forged, seq],
    )


CASES: dict[str, tuple[Tamper, str]] = {
    "edited payload": (_edit_payload, "event seq {seq} (windows_scored): hash does not match its payload"),
    "deleted event": (_delete, "expected seq {seq}"),
    "reordered events": (_reorder, "event seq {seq}"),
    "appended forged event": (_append_forged, "continues after its certificate"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_altered_event_file_fails_verify_naming_the_link(issued: tuple[Path, Path], case: str) -> None:
    cert, db = issued
    assert run_cli("verify", cert, "--events", db)[0] == 0
    tamper, named = CASES[case]
    with duckdb.connect(str(db)) as con:
        named = named.format(seq=_scored(con))
        tamper(con)
    code, out, err = run_cli("verify", cert, "--events", db, "--json")
    report = json.loads(out)
    [failed] = [check for check in report["checks"] if not check["ok"]]
    assert code == 3 and failed["name"] == "events" and named in failed["detail"], (failed, err)
    replay = run_cli("replay", c.from_bytes(cert.read_bytes()).run_id, "--events", db)
    assert replay[0] == 3 and replay[2].startswith("ERROR [INVARLOCK:E60") and "Traceback" not in replay[2]
