"""A re-linked preview assessment or rollback that its preview evidence does not give fails replay, verify
--events and runs --check-chains (the forger hunt: a forged `catastrophe: true` replayed with exit 0, and a
forged rollback rebuilt a certificate that verify then refused)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev

from tests.fakes.cli import run_cli
from tests.integration.event_forgery import Records, decoded, index_of, issue, rewrite, with_event
from tests.unit.conftest import loader, services, store  # noqa: F401 (fixtures used by name)


def _ratio_forged(records: Records) -> Records:
    at = index_of(records, "preview_assessed")
    honest = decoded(records[at])
    assert isinstance(honest, ev.PreviewAssessed) and not honest.catastrophe
    forged = msgspec.structs.replace(honest, ratio=2.5, catastrophe=True)
    return [*records[:at], with_event(records[at], forged), *records[at + 1 :]]


def _rollback_inserted(records: Records) -> Records:
    at = index_of(records, "preview_assessed")
    rollback = ev.RollbackPerformed(reason="preview ratio 2.5000 > 2.0")
    return [*records[: at + 1], with_event(records[at], rollback), *records[at + 1 :]]


def _reason_changed(records: Records) -> Records:
    at = index_of(records, "rollback_performed")
    return [*records[:at], with_event(records[at], ev.RollbackPerformed(reason="operator's call")), *records[at + 1 :]]


CASES: dict[str, tuple[str, Callable[[Records], Records], str]] = {
    "ratio": ("int8ish", _ratio_forged, "the recorded preview assessment (ratio 2.5, trips) is not what"),
    "rollback": ("int8ish", _rollback_inserted, "a rollback was recorded though the preview assessment does not"),
    "reason": ("broken", _reason_changed, "the rollback's reason \"operator's call\" is not the preview assessment's"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_forged_preview_decision_fails_every_reader(services: Services, tmp_path: Path, case: str) -> None:  # noqa: F811
    subject, forge, named = CASES[case]
    cert, db = tmp_path / "cert.json", tmp_path / "ev.duckdb"
    run_id = issue(services, db, cert, subject)
    honest_exit = {"PASS": 0, "FAIL": 1}[c.from_bytes(cert.read_bytes()).verdict.status]
    assert run_cli("verify", cert, "--events", db)[0] == honest_exit
    rewrite(db, run_id, forge)
    code, out, err = run_cli("verify", cert, "--events", db, "--json")
    [failed] = [check for check in json.loads(out)["checks"] if not check["ok"]]
    assert code == 3 and failed["name"] == "events" and named in failed["detail"], (failed, err)
    code, _, err = run_cli("replay", run_id, "--events", db)
    assert code == 3 and err.startswith("ERROR [INVARLOCK:E604]") and named in err, err
    code, out, _ = run_cli("runs", "--events", db, "--check-chains", "--json")
    [row] = json.loads(out)
    assert code == 3 and row["status"] == "TAMPERED" and named in row["problem"], row


def test_an_honest_rollback_replays_to_its_certificate(services: Services, tmp_path: Path) -> None:  # noqa: F811
    cert, db = tmp_path / "cert.json", tmp_path / "ev.duckdb"
    run_id = issue(services, db, cert, "broken")
    assert c.from_bytes(cert.read_bytes()).status == "rollback"
    code, _, err = run_cli("replay", run_id, "--events", db, "-o", tmp_path / "replayed.json")
    assert code == 0, err
    assert (tmp_path / "replayed.json").read_bytes() == cert.read_bytes()
