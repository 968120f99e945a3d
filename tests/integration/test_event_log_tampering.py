"""A real DuckDB event file altered after the run: `verify --events`, `replay`, `runs` and `events` exit 3 with
one line naming the broken link, and never fail as E999."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev

from tests.fakes.cli import run_cli
from tests.integration.event_forgery import Records, decoded, index_of, issue, relink, rewrite, with_event
from tests.unit.conftest import loader, services, store  # noqa: F401 (fixtures used by name)

Tamper = Callable[[duckdb.DuckDBPyConnection], None]


@pytest.fixture
def svc(request: pytest.FixtureRequest) -> Services:
    """The fake-model services of the unit tests (their store is replaced by a DuckDB file per run)."""
    fake: Services = request.getfixturevalue("services")
    return fake


@pytest.fixture
def issued(svc: Services, tmp_path: Path) -> tuple[Path, Path]:
    """A certificate file and the DuckDB event file its run was recorded in."""
    cert, db = tmp_path / "evaluation.cert.json", tmp_path / "ev.duckdb"
    issue(svc, db, cert)
    return cert, db


def _scored(con: duckdb.DuckDBPyConnection) -> int:
    """Sequence number of the run's first windows_scored event (the one the tampering cases alter)."""
    return int(con.execute("SELECT min(seq) FROM events WHERE type = 'windows_scored'").fetchone()[0])


def _edit_payload(con: duckdb.DuckDBPyConnection) -> None:
    seq = _scored(con)
    payload = json.loads(con.execute("SELECT payload FROM events WHERE seq = ?", [seq]).fetchone()[0])
    payload["rows"][0]["nll_sum"] += 1e-6
    con.execute("UPDATE events SET payload = ? WHERE seq = ?", [json.dumps(payload), seq])


def _edit_recorded_at(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("UPDATE events SET recorded_at = recorded_at + INTERVAL 1 HOUR WHERE seq = ?", [_scored(con)])


def _delete(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM events WHERE seq = ?", [_scored(con)])


def _reorder(con: duckdb.DuckDBPyConnection) -> None:
    seq = _scored(con)
    con.execute("UPDATE events SET seq = -1 WHERE seq = ?", [seq])
    con.execute("UPDATE events SET seq = ? WHERE seq = ?", [seq, seq + 1])
    con.execute("UPDATE events SET seq = ? WHERE seq = -1", [seq + 1])


def _append_forged(con: duckdb.DuckDBPyConnection) -> None:
    run_id, seq, head, recorded_at = con.execute(
        "SELECT run_id, seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    payload = con.execute("SELECT payload FROM events WHERE seq = ?", [_scored(con)]).fetchone()[0].encode()
    stamp = recorded_at.isoformat(timespec="microseconds")
    forged = ev.chain_hash(  # a forger can extend an unkeyed chain correctly
        run_id=run_id, seq=seq + 1, recorded_at=stamp, prev_hash=head, type_="windows_scored", version=1,
        payload=payload,
    )  # fmt: skip
    con.execute(
        "INSERT INTO events VALUES (?, ?, 'windows_scored', 1, ?, ?, ?, ?)",
        [run_id, seq + 1, payload.decode(), stamp, head, forged],
    )


CASES: dict[str, tuple[Tamper, str]] = {
    "edited payload": (_edit_payload, "event seq {seq} (windows_scored): hash does not match its contents"),
    "edited recorded_at": (_edit_recorded_at, "event seq {seq} (windows_scored): hash does not match its contents"),
    "deleted event": (_delete, "expected seq {seq}"),
    "reordered events": (_reorder, "event seq {seq}"),
    "appended forged event": (_append_forged, "event windows_scored is out of place after run_completed"),
}


def _failed_check(cert: Path, db: Path, *extra: str) -> dict:
    code, out, err = run_cli("verify", cert, "--events", db, "--json", *extra)
    report = json.loads(out)
    failed = [check for check in report["checks"] if not check["ok"]]
    assert code == 3 and len(failed) == 1, (code, failed, err)
    return failed[0]


def _assert_replay_fails(cert: Path, db: Path, named: str = "") -> None:
    code, _, err = run_cli("replay", c.from_bytes(cert.read_bytes()).run_id, "--events", db)
    assert code == 3 and err.startswith("ERROR [INVARLOCK:E60") and named in err and err.count("\n") == 1, err


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_altered_event_file_fails_verify_naming_the_link(issued: tuple[Path, Path], case: str) -> None:
    cert, db = issued
    assert run_cli("verify", cert, "--events", db)[0] == 0
    tamper, named = CASES[case]
    with duckdb.connect(str(db)) as con:
        named = named.format(seq=_scored(con))
        tamper(con)
    failed = _failed_check(cert, db)
    assert failed["name"] == "events" and named in failed["detail"], failed
    _assert_replay_fails(cert, db, named)


def _forge_completion(status: str, verdict: str) -> Callable[[Records], Records]:
    def edit(records: Records) -> Records:
        at = index_of(records, "run_completed")
        forged = ev.RunCompleted(finished_at="2026-01-01T00:00:59+00:00", status=status, verdict=verdict)
        return [*records[:at], with_event(records[at], forged), *records[at + 1 :]]

    return edit


@pytest.mark.parametrize(
    "subject, status, verdict", [("int8ish", "rollback", "FAIL"), ("broken", "completed", "PASS")]
)  # fmt: skip
def test_a_relinked_run_completed_that_contradicts_the_certificate_exits_3(
    svc: Services, tmp_path: Path, subject: str, status: str, verdict: str
) -> None:
    cert, db = tmp_path / "cert.json", tmp_path / "ev.duckdb"
    run_id = issue(svc, db, cert, subject)
    rewrite(db, run_id, _forge_completion(status, verdict))
    said = f"run_completed of run {run_id} says {status}/{verdict} but its certificate says"
    assert said in _failed_check(cert, db)["detail"]
    _assert_replay_fails(cert, db, said)
    code, out, err = run_cli("runs", "--events", db, "--json")
    [row] = json.loads(out)
    assert code == 3 and (row["status"], row["chain_ok"], row["verdict"]) == ("TAMPERED", False, None), row
    assert said in row["problem"] and err.startswith("ERROR [INVARLOCK:E603] 1 of 1 runs fail the chain check")


def test_a_relinked_run_failed_appended_after_the_certificate_exits_3(issued: tuple[Path, Path]) -> None:
    cert, db = issued
    failed = ev.RunFailed(failed_at="2026-01-01T00:01:00+00:00", code="E999", message="forged")
    run_id = c.from_bytes(cert.read_bytes()).run_id
    rewrite(db, run_id, lambda rs: [*rs, with_event(rs[-1], failed)])
    named = "event run_failed is out of place after run_completed"
    assert named in _failed_check(cert, db)["detail"]
    _assert_replay_fails(cert, db, named)
    code, out, _ = run_cli("runs", "--events", db)
    assert code == 3 and f"{run_id}  TAMPERED" in out and "run_failed" in out


def test_deleting_run_completed_after_the_certificate_exits_3(issued: tuple[Path, Path]) -> None:
    cert, db = issued
    run_id = c.from_bytes(cert.read_bytes()).run_id
    rewrite(db, run_id, lambda rs: rs[:-1])
    named = f"run {run_id} has a certificate but no run_completed event"
    assert named in _failed_check(cert, db)["detail"]
    _assert_replay_fails(cert, db, named)


def test_runs_lists_a_run_whose_first_event_was_deleted_and_flags_it(svc: Services, tmp_path: Path) -> None:
    db = tmp_path / "ev.duckdb"
    first = issue(svc, db, tmp_path / "a.json")
    second = issue(svc, db, tmp_path / "b.json")
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM events WHERE run_id = ? AND seq = 0", [first])
    code, out, _ = run_cli("runs", "--events", db, "--json")
    rows = {row["run_id"]: row for row in json.loads(out)}
    assert code == 3 and set(rows) == {first, second}
    assert rows[first]["status"] == "TAMPERED" and "expected seq 0" in rows[first]["problem"]
    assert (rows[second]["status"], rows[second]["verdict"], rows[second]["chain_ok"]) == ("completed", "PASS", True)


def test_one_undecodable_run_is_flagged_while_the_others_list(svc: Services, tmp_path: Path) -> None:
    db = tmp_path / "ev.duckdb"
    bad = issue(svc, db, tmp_path / "a.json")
    good = issue(svc, db, tmp_path / "b.json", subject="broken")

    def garble(records: Records) -> Records:
        at = index_of(records, "preview_assessed")
        garbled = msgspec.structs.replace(records[at], payload=b'{"type":"preview_assessed.v1"}')
        return [*records[:at], garbled, *records[at + 1 :]]

    rewrite(db, bad, garble)  # re-linked: the chain is intact, only the payload is wrong
    code, out, err = run_cli("runs", "--events", db)
    lines = out.splitlines()
    assert code == 3 and len(lines) == 2 and "Traceback" not in err and err.count("\n") == 1, (out, err)
    assert f"{bad}  TAMPERED" in lines[0] and "does not decode" in lines[0]
    assert good in lines[1] and "rollback" in lines[1] and "FAIL" in lines[1]
    code, out, err = run_cli("events", bad, "--events", db)
    assert code == 3 and "(payload does not decode)" in out and err.startswith("ERROR [INVARLOCK:E603]")


def _drop_primary_key(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE copy AS SELECT * FROM events")
    con.execute("DROP TABLE events")
    con.execute("ALTER TABLE copy RENAME TO events")


@pytest.mark.parametrize("column", ["payload", "recorded_at", "seq"])
def test_a_null_column_is_a_one_line_integrity_error_on_every_command(issued: tuple[Path, Path], column: str) -> None:
    cert, db = issued
    run_id = c.from_bytes(cert.read_bytes()).run_id
    with duckdb.connect(str(db)) as con:
        _drop_primary_key(con)
        con.execute(f"UPDATE events SET {column} = NULL WHERE seq = ?", [_scored(con)])
    assert f"has NULL {column}" in _failed_check(cert, db)["detail"]
    for args in (["replay", run_id], ["runs"], ["events", run_id]):
        code, out, err = run_cli(*args, "--events", db)
        assert code == 3 and err.startswith("ERROR [INVARLOCK:E603]") and err.count("\n") == 1, (args, err)
        assert f"has NULL {column}" in err and "E999" not in err
        if args == ["runs"]:  # the stream could not be read, so it has no count (it read "(0 events)")
            assert f"{run_id}  TAMPERED  (events unreadable)" in out, out


def _far_future(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("UPDATE events SET recorded_at = '10000-01-01 00:00:00+00' WHERE seq = ?", [_scored(con)])


def _infinite(con: duckdb.DuckDBPyConnection) -> None:  # DuckDB gives it as a naive datetime.max
    con.execute("UPDATE events SET recorded_at = 'infinity'::TIMESTAMPTZ WHERE seq = ?", [_scored(con)])


def _retyped_version(con: duckdb.DuckDBPyConnection) -> None:
    _drop_primary_key(con)
    con.execute("ALTER TABLE events ALTER version TYPE VARCHAR")


def _dropped_hash(con: duckdb.DuckDBPyConnection) -> None:
    _drop_primary_key(con)
    con.execute("ALTER TABLE events DROP COLUMN hash")


ALTERED: dict[str, tuple[Tamper, str]] = {  # each ended in E999 (AttributeError, BinderException) before
    "a time after year 9999": (_far_future, "has a recorded_at no invarlock version writes: '10000-01-01"),
    "an infinite time": (_infinite, "recorded_at no invarlock version writes: 9999-12-31T23:59:59.999999 without"),
    "a retyped column": (_retyped_version, "events.version is VARCHAR, not INTEGER"),
    "a dropped column": (_dropped_hash, "does not hold the tables invarlock writes: events has no column hash"),
}


@pytest.mark.parametrize("case", sorted(ALTERED))
def test_a_value_or_table_invarlock_never_writes_is_a_one_line_integrity_error(
    issued: tuple[Path, Path], case: str
) -> None:
    cert, db = issued
    run_id = c.from_bytes(cert.read_bytes()).run_id
    tamper, named = ALTERED[case]
    with duckdb.connect(str(db)) as con:
        tamper(con)
    failed = _failed_check(cert, db)
    assert failed["name"] == "events" and named in failed["detail"], failed
    for args in (["replay", run_id], ["runs", "--check-chains"], ["events", run_id]):
        code, out, err = run_cli(*args, "--events", db)
        assert code == 3 and err.startswith("ERROR [INVARLOCK:E603]") and named in err, (args, out, err)
        assert err.count("\n") == 1 and "E999" not in out + err


@pytest.mark.parametrize("case", ["a retyped column", "a dropped column"])
def test_the_doctor_reports_an_altered_table_as_a_run_would_meet_it(issued: tuple[Path, Path], case: str) -> None:
    """Every opener checks the events table's columns (a row's value is checked when a command reads that row:
    a new run reads no other run's rows, so the doctor does not read them either)."""
    _, db = issued
    tamper, named = ALTERED[case]
    with duckdb.connect(str(db)) as con:
        tamper(con)
    code, out, _ = run_cli("doctor", "--events", db, "--json")
    report = json.loads(out)
    [finding] = [f for f in report["findings"] if f["check"] == "store"]
    assert (finding["error_code"], finding["exit_code"]) == ("E603", 3) and named in finding["message"], finding
    assert code == report["resolution"]["exit_code"] != 0  # 3, or 2 where an extra is missing (found first)


def test_an_intact_store_lists_and_shows_with_exit_0(issued: tuple[Path, Path]) -> None:
    cert, db = issued
    run_id = c.from_bytes(cert.read_bytes()).run_id
    code, out, _ = run_cli("runs", "--events", db, "--json")
    [row] = json.loads(out)
    assert code == 0 and (row["status"], row["verdict"], row["chain_ok"], row["problem"]) == (
        "completed", "PASS", True, None
    )  # fmt: skip
    code, out, _ = run_cli("events", run_id, "--events", db, "--json")
    assert code == 0 and [e["type"] for e in json.loads(out)][-2:] == ["certificate_issued", "run_completed"]


def test_relink_reproduces_the_stored_hashes(issued: tuple[Path, Path]) -> None:
    """The forger's tool is the real recipe: re-linking an untouched stream changes nothing."""
    cert, db = issued
    records = DuckDBEventStore(db, read_only=True).read(c.from_bytes(cert.read_bytes()).run_id)
    assert relink(records) == records


def test_a_relinked_policy_asking_for_a_huge_bootstrap_is_refused_before_any_allocation(
    issued: tuple[Path, Path],
) -> None:
    cert, db = issued
    run_id = c.from_bytes(cert.read_bytes()).run_id

    def inflate(records: Records) -> Records:
        started = decoded(records[0])
        assert isinstance(started, ev.RunStarted)
        policy = msgspec.structs.replace(started.policy, replicates=10**9)
        return [with_event(records[0], msgspec.structs.replace(started, policy=policy)), *records[1:]]

    rewrite(db, run_id, inflate)
    code, _, err = run_cli("replay", run_id, "--events", db)
    assert code == 3 and err.startswith("ERROR [INVARLOCK:E607]") and "1000000000 bootstrap replicates" in err
    assert "1000000000 bootstrap replicates" in _failed_check(cert, db)["detail"]
    code, out, _ = run_cli("runs", "--events", db)
    assert code == 3 and f"{run_id}  TAMPERED" in out


def test_an_audit_stream_is_not_a_run_and_its_timeline_shows_with_exit_0(issued: tuple[Path, Path]) -> None:
    cert, db = issued
    run_id = c.from_bytes(cert.read_bytes()).run_id
    started = ev.ReexecutionStarted(
        certificate_run_id=run_id, certificate_digest="0" * 64, baseline_ref="base", subject_ref="int8ish",
        sample=None, sample_seed=1, started_at="2026-01-01T00:00:00+00:00", tool_version="0.0.test",
        environment={}, exact=True, rel_tol=0.0, build_differences=[], sequential=False,
    )  # fmt: skip
    DuckDBEventStore(db).append("audit-1", 0, [started])
    code, out, _ = run_cli("runs", "--events", db, "--json")
    assert code == 0 and [row["run_id"] for row in json.loads(out)] == [run_id]
    code, out, err = run_cli("events", "audit-1", "--events", db)
    assert code == 0 and "reexecution_started" in out and err == ""


def _restated(kind: str) -> Callable[[Records], Records]:
    """run_completed's payload rewritten so that it still decodes to the same event: its verdict given twice
    (DuckDB's JSON functions read the first, FAIL; msgspec the last, the certificate's PASS), or spaced out; or
    its verdict nested too deeply to decode."""

    def edit(records: Records) -> Records:
        i = index_of(records, "run_completed")
        text = records[i].payload.decode()
        assert '"verdict":"PASS"' in text
        if kind == "repeated key":
            text = text.replace('"verdict":"PASS"', '"verdict":"FAIL","verdict":"PASS"')
        elif kind == "nested 100000 deep":  # deeper than Python's stack: it ended in E999 (RecursionError)
            text = text.replace('"verdict":"PASS"', '"verdict":' + "[" * 100_000 + "]" * 100_000)
        else:
            text = text.replace(",", ", ")
        return [*records[:i], msgspec.structs.replace(records[i], payload=text.encode()), *records[i + 1 :]]

    return edit


@pytest.mark.parametrize("kind", ["repeated key", "whitespace", "nested 100000 deep"])
def test_a_relinked_payload_that_is_not_canonical_json_exits_3_on_every_reader(
    svc: Services, tmp_path: Path, kind: str
) -> None:
    cert, db = tmp_path / "cert.json", tmp_path / "ev.duckdb"
    run_id = issue(svc, db, cert)
    rewrite(db, run_id, _restated(kind))
    if kind == "repeated key":  # what made this a loophole: the audit's SQL and verify read two verdicts
        with duckdb.connect(str(db)) as con:
            sql = "SELECT payload->>'verdict' FROM events WHERE type = 'run_completed'"
            assert con.execute(sql).fetchone()[0] == "FAIL"
    said = "event payload of type run_completed is not canonical JSON"
    assert said in _failed_check(cert, db)["detail"]
    _assert_replay_fails(cert, db, said)
    code, out, _ = run_cli("runs", "--events", db, "--json")
    [row] = json.loads(out)
    assert code == 3 and (row["status"], row["chain_ok"]) == ("TAMPERED", False) and said in row["problem"], row
    code, _, err = run_cli("events", run_id, "--events", db)
    assert code == 3 and said in err


def test_a_run_appended_under_another_id_is_flagged(issued: tuple[Path, Path]) -> None:
    """The store hunt: a run's events appended under another id (a valid chain of its own) replayed, and
    `runs --check-chains` listed it under the id its run_started names, beside the real run."""
    cert, db = issued
    run_id = c.from_bytes(cert.read_bytes()).run_id
    copied = [decoded(r) for r in DuckDBEventStore(db, read_only=True).read(run_id)]
    DuckDBEventStore(db).append("copied-run", 0, copied)
    named = f"stream copied-run holds the run_started of run {run_id}"
    code, _, err = run_cli("replay", "copied-run", "--events", db)
    assert code == 3 and err.startswith("ERROR [INVARLOCK:E604]") and named in err, err
    code, out, _ = run_cli("runs", "--events", db, "--check-chains", "--json")
    rows = {row["run_id"]: row for row in json.loads(out)}
    assert code == 3 and rows["copied-run"]["status"] == "TAMPERED" and named in rows["copied-run"]["problem"]
    assert rows[run_id]["chain_ok"]
