"""`invarlock runs` over the run index of a real DuckDB file: altered streams and edited index rows are flagged
(by default where the index can see it, always with --check-chains), events appended without the index are
checked in full, an existing store gets its index on its first append, and filters and pages work from the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.replay.replay import replay_certificate
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.run_index import index_stored

from tests.fakes.cli import run_cli
from tests.fakes.run_streams import RECORDED_AT, RunStreams, certified_streams
from tests.integration.event_forgery import Records, index_of, relink, rewrite, with_event

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"


@pytest.fixture(scope="module")
def streams() -> RunStreams:
    return certified_streams()


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory, streams: RunStreams) -> Path:
    path = tmp_path_factory.mktemp("filled") / "events.duckdb"
    streams.fill(DuckDBEventStore(path, clock=lambda: RECORDED_AT))
    return path


@pytest.fixture
def db(tmp_path: Path, filled: Path) -> Path:
    """A private copy of the filled store (each test alters its own)."""
    return Path(shutil.copy(filled, tmp_path / "events.duckdb"))


def _rows(db: Path, *args: str) -> tuple[int, dict[str, dict], str]:
    code, out, err = run_cli("runs", "--events", db, "--json", *args)
    return code, {row["run_id"]: row for row in json.loads(out or "[]")}, err


def _scored_seq(db: Path, run_id: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        sql = "SELECT min(seq) FROM events WHERE run_id = ? AND type = 'windows_scored'"
        return int(con.execute(sql, [run_id]).fetchone()[0])


def test_an_intact_store_lists_every_run_from_the_index_with_exit_0(db: Path) -> None:
    code, rows, err = _rows(db)
    assert code == 0 and err == "" and len(rows) == 6 and all(r["chain_ok"] for r in rows.values())
    assert _rows(db, "--check-chains")[1] == rows


def test_a_relinked_rewrite_is_flagged_without_check_chains(db: Path) -> None:
    """The forger re-links every hash (the chain has no key), but the stream no longer ends at its indexed head."""

    def louder(records: Records) -> Records:
        at = index_of(records, "preview_assessed")
        assessed = ev.decode_event(records[at].type, records[at].version, records[at].payload)
        assert isinstance(assessed, ev.PreviewAssessed)
        return [
            *records[:at],
            with_event(records[at], msgspec.structs.replace(assessed, ratio=1.0)),
            *records[at + 1 :],
        ]

    rewrite(db, "run-1", louder)
    code, rows, err = _rows(db)
    assert code == 3 and rows["run-1"]["status"] == "TAMPERED" and not rows["run-1"]["chain_ok"]
    problem = rows["run-1"]["problem"]
    assert "the recorded preview assessment (ratio 1, trips) is not what the preview evidence gives" in problem
    assert err.startswith("ERROR [INVARLOCK:E603] 1 of 6")
    assert all(r["chain_ok"] for k, r in rows.items() if k != "run-1")


def test_deleted_or_forged_trailing_events_are_flagged_without_check_chains(db: Path) -> None:
    rewrite(db, "run-0", lambda records: records[:-1])
    forged = ev.RunFailed(failed_at="2026-01-01T00:30:00+00:00", code="E999", message="forged")
    rewrite(db, "run-2", lambda records: [*records, with_event(records[-1], forged)])
    code, rows, _ = _rows(db)
    assert code == 3 and "has a certificate but no run_completed event" in rows["run-0"]["problem"]
    assert "event run_failed is out of place after run_completed" in rows["run-2"]["problem"]


def test_a_stream_that_passes_its_own_checks_but_is_not_the_one_appended_is_flagged(db: Path) -> None:
    """A killed run re-linked one event shorter still folds, but it no longer ends where it was recorded."""
    rewrite(db, "run-5", lambda records: records[:-1])
    code, rows, _ = _rows(db)
    assert code == 3 and rows["run-5"]["status"] == "TAMPERED"
    assert (
        rows["run-5"]["problem"] == "run run-5 lost events after it was recorded: 2 events stored but 3 were recorded"
    )


def test_an_in_place_edit_behind_the_head_is_flagged_by_check_chains(db: Path) -> None:
    """Documented trade-off (docs/audit.md): without --check-chains `runs` reads no payload, so an edit that
    leaves every stored hash and the head alone is found by --check-chains (and verify --events, replay)."""
    seq = _scored_seq(db, "run-0")
    with duckdb.connect(str(db)) as con:
        sql = (
            "UPDATE events SET payload = replace(payload, '\"nll_sum\":', '\"nll_sum\":1') WHERE run_id = ? AND seq = ?"
        )
        con.execute(sql, ["run-0", seq])
    code, rows, _ = _rows(db, "--check-chains")
    assert code == 3 and f"event seq {seq} (windows_scored): hash does not match" in rows["run-0"]["problem"]


def test_an_edited_index_row_is_flagged_by_check_chains(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE run_index SET verdict = 'PASS', status = 'completed' WHERE run_id = 'run-1'")
    assert _rows(db)[1]["run-1"]["verdict"] == "PASS"  # the index is a cache: only the full check reads events
    code, rows, _ = _rows(db, "--check-chains")
    assert (
        code == 3
        and rows["run-1"]["problem"] == "run run-1: the run index says status 'completed' but its events say 'rollback'"
    )
    # with a filter the runs are chosen by their events: the edited row was never compared (exit 0, the reports
    # hunt); a run whose index entry says otherwise than its events is listed whatever the filters
    code, rows, _ = _rows(db, "--check-chains", "--verdict", "PASS")
    assert code == 3 and rows["run-1"]["problem"].startswith("run run-1: the run index says status 'completed'")


def test_an_index_row_that_no_longer_converts_is_flagged_without_a_traceback(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE run_index SET kind = NULL, events = NULL WHERE run_id = 'run-2'")
    code, rows, err = _rows(db)
    assert code == 3 and rows["run-2"]["status"] == "TAMPERED" and "Traceback" not in err
    assert rows["run-2"]["problem"].startswith("the run index row of run run-2 was altered")


def _append_raw(db: Path, records: Records) -> None:
    """Insert rows as a writer that does not keep the index would (an earlier invarlock)."""
    with duckdb.connect(str(db)) as con:
        con.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [r.run_id, r.seq, r.type, r.version, r.payload.decode(), r.recorded_at, r.prev_hash, r.hash]
                for r in records
            ],
        )


def test_events_appended_without_the_index_are_checked_in_full_and_the_next_append_reindexes(
    tmp_path: Path, streams: RunStreams
) -> None:
    db, events = tmp_path / "mixed.duckdb", streams.streams["run-0"]
    store = DuckDBEventStore(db, clock=lambda: RECORDED_AT)
    head = store.append("run-0", 0, events[:5])
    tail = relink([*head, *(with_event(head[-1], e) for e in events[5:-2])])[5:]
    _append_raw(db, tail)
    code, rows, _ = _rows(db)
    assert code == 0 and (rows["run-0"]["status"], rows["run-0"]["events"]) == ("incomplete", len(events) - 2)
    store.append("run-0", len(events) - 2, events[-2:])
    with duckdb.connect(str(db), read_only=True) as con:
        [indexed] = con.execute("SELECT events, status, verdict FROM run_index").fetchall()
    assert indexed == (len(events), "completed", "PASS")
    code, rows, _ = _rows(db, "--check-chains")
    assert code == 0 and rows["run-0"]["verdict"] == "PASS"


def test_a_store_written_before_the_index_gets_it_on_its_first_append_and_still_replays(
    tmp_path: Path, streams: RunStreams
) -> None:
    db = Path(shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "invarlock.duckdb"))
    before_code, before, _ = _rows(db)
    DuckDBEventStore(db, clock=lambda: RECORDED_AT).append("run-0", 0, streams.streams["run-0"])
    store = DuckDBEventStore(db, read_only=True)
    with duckdb.connect(str(db), read_only=True) as con:
        indexed = {row[0]: row[1] for row in con.execute("SELECT run_id, events FROM run_index").fetchall()}
    assert indexed == {run_id: index_stored(store.read(run_id)).events for run_id in store.run_ids()}
    code, after, _ = _rows(db)
    assert before_code == code == 0 and after == {**before, "run-0": after["run-0"]} and len(after) == 3
    for name in ("run.cert.json", "certify.cert.json"):
        issued = (FIXTURE / name).read_bytes()
        assert c.to_bytes(replay_certificate(store, c.from_bytes(issued).run_id)) == issued


def test_filters_and_pages_from_the_cli(db: Path) -> None:
    code, rows, err = _rows(db, "--since", "2026-01-01T00:06Z", "--verdict", "pass", "--limit", "1", "--offset", "1")
    assert code == 0 and list(rows) == ["run-3"] and err == ""
    code, out, err = run_cli(
        "runs", "--events", db, "--since", "2026-01-01T00:06Z", "--verdict", "PASS", "--offset", "1"
    )
    assert code == 0 and out.startswith("run-3  ") and len(out.splitlines()) == 1 and err == "(runs 2-2 of 2)\n"
    code, out, err = run_cli("runs", "--events", db, "--limit", "2")
    assert code == 0 and len(out.splitlines()) == 2 and err == "(runs 1-2 of 6; --offset 2 for the next page)\n"
    code, out, err = run_cli("runs", "--events", db, "--since", "2099-01-01")  # once silent: no line at all
    assert (code, out, err) == (0, "", "(no runs match these filters)\n")
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM events")
        con.execute("DELETE FROM run_index")
    assert run_cli("runs", "--events", db) == (0, "", "(no runs in this event store)\n")


@pytest.mark.parametrize(
    "args, named",
    [
        (["--since", "last tuesday"], "--since 'last tuesday' is not a date or time"),
        (["--verdict", "MAYBE"], "--verdict 'MAYBE' is not PASS or FAIL"),
        (["--baseline-digest", "xyz"], "--baseline-digest 'xyz' is not hex sha256"),
        (["--limit", "0"], "--limit 0 is not 1 to"),
        (["--limit", str(2**63)], f"--limit {2**63} is not 1 to 9223372036854775807"),
        (["--offset", str(2**63)], f"--offset {2**63} is not 0 to 9223372036854775807"),
        (["--offset", "-1"], "--offset -1 is not 0 to"),  # once "--limit None / --offset -1: ..."
    ],
)
def test_a_bad_filter_is_one_line_e513_with_exit_2(db: Path, args: list[str], named: str) -> None:
    code, out, err = run_cli("runs", "--events", db, *args)
    assert (
        code == 2 and out == "" and err.startswith("ERROR [INVARLOCK:E513]") and named in err and err.count("\n") == 1
    )


def _index_value(db: Path, column: str, run_id: str) -> object:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT {column} FROM run_index WHERE run_id = ?", [run_id]).fetchone()[0]


def test_an_index_row_relabelled_audit_no_longer_hides_its_run(db: Path) -> None:
    # The listing left out every row saying `audit`: the run vanished, and `--check-chains` exited 0.
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE run_index SET kind = 'audit' WHERE run_id = 'run-1'")
    for args in ([], ["--check-chains"], ["--check-chains", "--verdict", "FAIL"]):
        code, rows, _ = _rows(db, *args)
        assert code == 3 and rows["run-1"]["problem"] == "run run-1: the run index says kind 'audit' but it is a run"


def test_an_audit_stream_relabelled_run_or_a_run_without_its_command_is_flagged_not_e999(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        [(audit_id,)] = con.execute("SELECT run_id FROM run_index WHERE kind = 'audit'").fetchall()
        con.execute("UPDATE run_index SET kind = 'run' WHERE run_id = ?", [audit_id])
        con.execute("UPDATE run_index SET command = NULL WHERE run_id = 'run-0'")
    code, out, err = run_cli("runs", "--events", db)
    assert code == 3 and "E999" not in err and err.startswith("ERROR [INVARLOCK:E603] 2 of 7 runs fail")
    for run_id in (audit_id, "run-0"):
        assert f"{run_id}  TAMPERED" in out and f"the run index row of run {run_id} was altered (no command)" in out
    code, rows, _ = _rows(db, "--check-chains")
    assert code == 3 and rows[audit_id]["status"] == rows["run-0"]["status"] == "TAMPERED"


@pytest.mark.parametrize(
    ("column", "args"),
    [("baseline_digest", ["--baseline-digest", "{digest}"]), ("verdict", ["--verdict", "FAIL"])],
)
def test_an_index_row_edited_out_of_a_filter_is_still_chosen_and_flagged_by_check_chains(
    db: Path, column: str, args: list[str]
) -> None:
    digest = str(_index_value(db, "baseline_digest", "run-1"))[:12]
    with duckdb.connect(str(db)) as con:
        con.execute(f"UPDATE run_index SET {column} = 'PASS' WHERE run_id = 'run-1'")
    filters = [arg.format(digest=digest) for arg in args]
    assert "run-1" not in _rows(db, *filters)[1]  # the index is a cache: only the full check reads events
    code, rows, _ = _rows(db, "--check-chains", *filters)
    assert code == 3 and rows["run-1"]["problem"].startswith(f"run run-1: the run index says {column} 'PASS' but")


@pytest.mark.parametrize("index_agrees", [False, True])
def test_a_filtered_check_chains_lists_a_stream_that_fails_its_check_whatever_it_folds_to(
    db: Path, index_agrees: bool
) -> None:
    # run_completed deleted: the stream folds to no verdict, and `--verdict X --check-chains` left it out, exit 0,
    # where plain `runs --verdict X` flagged it (the store hunt of stop 63).
    verdict = str(_index_value(db, "verdict", "run-0"))
    rewrite(db, "run-0", lambda records: records[:-1])
    if index_agrees:  # the forger's index row made to agree with the cut stream: only the full check tells
        with duckdb.connect(str(db)) as con:
            head, count = con.execute(
                "SELECT hash, seq + 1 FROM events WHERE run_id = 'run-0' ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            con.execute("UPDATE run_index SET head_hash = ?, events = ? WHERE run_id = 'run-0'", [head, count])
    code, rows, _ = _rows(db, "--verdict", verdict, "--check-chains")
    assert code == 3 and "has a certificate but no run_completed event" in rows["run-0"]["problem"], rows


def test_a_filtered_check_chains_lists_a_cut_stream(db: Path) -> None:
    # certificate_issued and run_completed deleted: the cut stream passes as an incomplete run on its own and folds
    # to no verdict; only its index entry tells (the regression hunt of stop 63).
    verdict = str(_index_value(db, "verdict", "run-0"))
    rewrite(db, "run-0", lambda records: records[:-2])
    code, rows, _ = _rows(db, "--verdict", verdict, "--check-chains")
    assert code == 3 and "lost events after it was recorded" in rows["run-0"]["problem"], rows
