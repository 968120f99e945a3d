"""docs/reference/recheck_chain.py, the auditor's own implementation of docs/reference/event-chain.md, agrees
with InvarLock on a real store and finds the tampering InvarLock finds."""

from __future__ import annotations

import ast
import base64
import dataclasses
import importlib.util
import json
import math
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.adapters.ed25519 import generate_keypair, load_signer, load_verifier, public_path
from invarlock.application.services import Services
from invarlock.domain import events as ev

from tests.integration.event_forgery import decoded, index_of, issue, rewrite, with_event
from tests.unit.conftest import loader, services, store  # noqa: F401 (fixtures used by name)

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "reference" / "recheck_chain.py"


def recheck(db: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, SCRIPT, db, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture
def two_runs(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """A store with an unsigned PASS run and a signed rollback run; their certificates; the signing key."""
    fake: Services = request.getfixturevalue("services")
    key = tmp_path / "issuer.key"
    generate_keypair(key)
    db = tmp_path / "ev.duckdb"
    plain = issue(fake, db, tmp_path / "plain.json")
    sealed = issue(dataclasses.replace(fake, signer=load_signer(key)), db, tmp_path / "sealed.json", "broken")
    return db, {"plain": plain, "sealed": sealed}, key


def test_the_script_needs_nothing_from_invarlock() -> None:
    tree = ast.parse(SCRIPT.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "argparse", "datetime", "hashlib", "json", "pathlib", "sys", "duckdb"}


def test_an_intact_store_rechecks_ok_and_the_printed_seal_message_is_what_the_key_signed(
    two_runs: tuple[Path, dict[str, str], Path], tmp_path: Path
) -> None:
    db, runs, key = two_runs
    done = recheck(db, "--cert", tmp_path / "sealed.json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{runs['plain']}: ok" in done.stdout and f"{runs['sealed']}: ok" in done.stdout
    [line] = [line for line in done.stdout.splitlines() if "sealed by" in line]
    signature, message = line.split(" signature ")[1].split(" over hex ")
    assert load_verifier(public_path(key)).verify(bytes.fromhex(message), base64.b64decode(signature))


def test_an_edited_recorded_at_is_broken(two_runs: tuple[Path, dict[str, str], Path]) -> None:
    db, runs, _ = two_runs
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE events SET recorded_at = recorded_at + INTERVAL 1 SECOND WHERE run_id = ? AND seq = 3",
                    [runs["plain"]])  # fmt: skip
    done = recheck(db)
    assert done.returncode == 3 and f"{runs['plain']}: BROKEN: seq 3" in done.stdout and "hash does not match" in (
        done.stdout
    )  # fmt: skip
    assert f"{runs['sealed']}: ok" in done.stdout


def test_a_relinked_forged_completion_is_broken_against_its_certificate(
    two_runs: tuple[Path, dict[str, str], Path], tmp_path: Path
) -> None:
    db, runs, _ = two_runs

    def forge(records: list[ev.RecordedEvent]) -> list[ev.RecordedEvent]:
        at = index_of(records, "run_completed")
        forged = msgspec.structs.replace(decoded(records[at]), status="completed", verdict="PASS")
        return [*records[:at], with_event(records[at], forged)]  # the seal is dropped too

    rewrite(db, runs["sealed"], forge)
    done = recheck(db, "--cert", tmp_path / "sealed.json")
    assert done.returncode == 3 and "run_completed says completed/PASS, the certificate differs" in done.stdout


def test_a_null_column_and_an_extra_event_are_broken(two_runs: tuple[Path, dict[str, str], Path]) -> None:
    db, runs, _ = two_runs
    rewrite(db, runs["plain"], lambda rs: [*rs, rs[index_of(rs, "preview_assessed")]])
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE copy AS SELECT * FROM events")
        con.execute("DROP TABLE events")
        con.execute("ALTER TABLE copy RENAME TO events")
        con.execute("UPDATE events SET payload = NULL WHERE run_id = ? AND seq = 1", [runs["sealed"]])
    done = recheck(db)
    assert done.returncode == 3
    assert f"{runs['plain']}: BROKEN: after certificate_issued" in done.stdout
    assert f"{runs['sealed']}: BROKEN: seq 1 has NULL payload" in done.stdout


def test_the_script_and_invarlock_compute_the_same_hashes(two_runs: tuple[Path, dict[str, str], Path]) -> None:
    db, runs, _ = two_runs
    records = DuckDBEventStore(db, read_only=True).read(runs["sealed"])
    assert all(ev.record_hash(r) == r.hash for r in records)
    assert recheck(db, "--run", runs["sealed"]).returncode == 0


def test_a_re_execution_audit_stream_rechecks_ok_and_a_run_event_in_it_is_broken(tmp_path: Path) -> None:
    """`verify CERT --baseline B --events FILE` appends its audit as a stream of its own, which starts with
    reexecution_started: the script called every store holding one BROKEN ("does not start with run_started")
    and exited 3 on an intact store (the store_v1 fixture's third stream is such an audit)."""
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"
    db = Path(shutil.copy(fixture / "invarlock.duckdb", tmp_path / "invarlock.duckdb"))
    audit = "01a22ae8-833b-764b-c157-11d6174ac36c"
    done = recheck(db, "--cert", fixture / "run.cert.json")
    assert done.returncode == 0 and f"{audit}: ok" in done.stdout, done.stdout
    run = "01a22ae7-74c2-7d44-1aaa-bd8a8bcd89c4"
    completed = [r for r in DuckDBEventStore(db, read_only=True).read(run) if r.type == "run_completed"]
    stray = msgspec.structs.replace(completed[0], run_id=audit)
    rewrite(db, audit, lambda rs: [*rs[:-1], stray, rs[-1]])
    done = recheck(db, "--run", audit)
    assert (
        done.returncode == 3
        and f"{audit}: BROKEN: a re-execution audit stream holding ['run_completed']" in done.stdout
    )


def test_a_signed_run_whose_seal_was_dropped_is_broken_against_its_certificate(
    two_runs: tuple[Path, dict[str, str], Path], tmp_path: Path
) -> None:
    db, runs, _ = two_runs
    rewrite(db, runs["sealed"], lambda records: records[:-1])  # the chain_sealed row removed, the rest intact
    assert recheck(db).returncode == 0  # the chain itself links: only the certificate says a seal is due
    done = recheck(db, "--cert", tmp_path / "sealed.json")
    assert done.returncode == 3
    assert f"{runs['sealed']}: BROKEN: the certificate is signed, but its run has no chain seal" in done.stdout


def test_a_payload_repeating_a_key_is_broken(two_runs: tuple[Path, dict[str, str], Path]) -> None:
    db, runs, _ = two_runs

    def repeat(records: list[ev.RecordedEvent]) -> list[ev.RecordedEvent]:
        at = index_of(records, "run_completed")
        payload = b'{"verdict":"PASS",' + records[at].payload[1:]  # canonical JSON sorts keys: it states one later
        records[at] = msgspec.structs.replace(records[at], payload=payload)
        return records

    rewrite(db, runs["plain"], repeat)
    done = recheck(db, "--run", runs["plain"])
    assert done.returncode == 3 and "payload repeats the key 'verdict'" in done.stdout, done.stdout


@pytest.mark.parametrize("name", ["missing.duckdb", "not_a_store.json"])
def test_a_store_that_cannot_be_read_is_one_line_and_exit_2(tmp_path: Path, name: str) -> None:
    (tmp_path / "not_a_store.json").write_text("{}\n")
    done = recheck(tmp_path / name)
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"cannot check {tmp_path / name}: ")


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("recheck_chain", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scripts_canonical_json_is_invarlocks(two_runs: tuple[Path, dict[str, str], Path], tmp_path: Path) -> None:
    """statistics.md §6's float rule, written without msgspec: the same bytes for whole certificates and floats."""
    script = _script()
    for name in ("plain.json", "sealed.json"):
        raw = (tmp_path / name).read_bytes()
        assert script.canonical_json(json.loads(raw)).encode("utf-8") == raw
    rng = random.Random(7)
    floats = [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(20_000)]
    floats += [m * 10.0**e for e in range(-25, 25) for m in (1.0, -1.5, 9.999, 1.2345678901234567)] + [0.0, -0.0]
    wrong = [v for v in floats if math.isfinite(v) and script.canonical_float(v) != msgspec.json.encode(v).decode()]
    assert wrong == []


def test_a_certificate_edited_after_it_was_issued_is_broken(
    two_runs: tuple[Path, dict[str, str], Path], tmp_path: Path
) -> None:
    """The script compared the stated digest only: an edited body with its digest left as issued rechecked ok."""
    db, runs, _ = two_runs
    cert = json.loads((tmp_path / "plain.json").read_bytes())
    cert["subject"]["ref"] = "a-model-never-certified"
    (tmp_path / "edited.json").write_text(_script().canonical_json(cert), encoding="utf-8")
    done = recheck(db, "--cert", tmp_path / "edited.json")
    assert done.returncode == 3 and f"{runs['plain']}: BROKEN: the certificate's body hashes to " in done.stdout


def test_malformed_events_and_certificates_are_broken_or_refused_never_a_traceback(
    two_runs: tuple[Path, dict[str, str], Path], tmp_path: Path
) -> None:
    db, runs, _ = two_runs
    rewrite(db, runs["plain"], lambda rs: [rs[0], msgspec.structs.replace(rs[1], payload=b"[1]"), *rs[2:]])

    def unnamed_head(records: list[ev.RecordedEvent]) -> list[ev.RecordedEvent]:
        seal = json.loads(records[-1].payload)
        del seal["head_seq"]
        return [*records[:-1], msgspec.structs.replace(records[-1], payload=json.dumps(seal).encode())]

    rewrite(db, runs["sealed"], unnamed_head)
    done = recheck(db, "--cert", tmp_path / "sealed.json")
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    assert f"{runs['plain']}: BROKEN: seq 1 (" in done.stdout and "payload is not a JSON object" in done.stdout
    assert f"{runs['sealed']}: BROKEN: chain_sealed does not name the event before it" in done.stdout
    (tmp_path / "empty.json").write_text("{}", encoding="utf-8")
    refused = recheck(db, "--cert", tmp_path / "empty.json")
    assert refused.returncode == 2 and "no run_id" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    "body", ['{"run_id": "r", "x": "\\ud800"}', '{"run_id": "r", "x": ' + "[" * 5000 + "]" * 5000 + "}"]
)
def test_a_certificate_with_no_canonical_form_is_exit_2(
    two_runs: tuple[Path, dict[str, str], Path], tmp_path: Path, body: str
) -> None:
    """A lone surrogate or JSON nested past Python's limit: a traceback (exit 1) before (the regression hunt)."""
    db, _, _ = two_runs
    (tmp_path / "odd.json").write_text(body, encoding="utf-8")
    done = recheck(db, "--cert", tmp_path / "odd.json")
    assert done.returncode == 2 and "Traceback" not in done.stderr and "cannot check" in done.stderr, done.stderr


def test_a_seal_without_its_signature_is_broken_not_a_traceback(two_runs: tuple[Path, dict[str, str], Path]) -> None:
    db, runs, _ = two_runs

    def unsigned(records: list[ev.RecordedEvent]) -> list[ev.RecordedEvent]:
        seal = json.loads(records[-1].payload)
        del seal["signature"]
        return [*records[:-1], msgspec.structs.replace(records[-1], payload=json.dumps(seal).encode())]

    rewrite(db, runs["sealed"], unsigned)  # re-linked: the chain itself is intact
    done = recheck(db, "--run", runs["sealed"])
    assert "Traceback" not in done.stderr and f"{runs['sealed']}:" in done.stdout, done.stderr
