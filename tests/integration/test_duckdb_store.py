"""DuckDBEventStore on real files: other processes, foreign files, read-only use, locks and tampering."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain.errors import IntegrityError, UsageError
from invarlock.domain.events import PreviewAssessed, RollbackPerformed, RunCompleted, chain_problems


def events() -> list:
    return [
        PreviewAssessed(ratio=1.0022, catastrophe_ratio=2.0, catastrophe=False),
        RollbackPerformed(reason="ünïcode ✓ survives"),
        RunCompleted(finished_at="2026-01-01T00:00:00+00:00", status="ok", verdict="PASS"),
    ]


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, check=True
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "nested" / "dirs" / "events.duckdb"
    DuckDBEventStore(path).append("run-1", 0, events())
    return path


def test_first_append_creates_parent_folders_and_the_documented_schema(db: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    columns = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                          "WHERE table_name = 'events' ORDER BY ordinal_position").fetchall()  # fmt: skip
    meta = con.execute("SELECT key, value FROM invarlock_meta").fetchall()
    con.close()
    assert [name for name, _ in columns] == [
        "run_id", "seq", "type", "version", "payload", "recorded_at", "prev_hash", "hash"
    ]  # fmt: skip
    assert dict(columns)["recorded_at"] == "TIMESTAMP WITH TIME ZONE"
    assert meta == [("schema", "invarlock-events/v2")]


def test_a_store_written_before_the_chain_covered_every_column_is_refused_by_name(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE invarlock_meta SET value = 'invarlock-events/v1' WHERE key = 'schema'")
    for attempt in (lambda: DuckDBEventStore(db, read_only=True).read("run-1"),
                    lambda: DuckDBEventStore(db).append("run-1", 3, events())):  # fmt: skip
        with pytest.raises(UsageError) as info:
            attempt()
        assert info.value.code == "E507" and "earlier invarlock" in info.value.message


@pytest.mark.parametrize(("marker", "code"), [("invarlock-events/v3", "E507"), ("invarlock-events/v1x", "E501")])
def test_a_store_of_a_newer_format_says_a_newer_release_wrote_it(db: Path, marker: str, code: str) -> None:
    """It said E501 'exists but is not an InvarLock event store' (the event-store hunt)."""
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE invarlock_meta SET value = ? WHERE key = 'schema'", [marker])
    with pytest.raises(UsageError) as info:
        DuckDBEventStore(db, read_only=True).read("run-1")
    assert info.value.code == code
    if code == "E507":
        assert info.value.message.endswith(f"was written by a newer invarlock ({marker}; this release reads "
                                           "invarlock-events/v2)")  # fmt: skip


@pytest.mark.parametrize("column", ["payload", "recorded_at", "seq", "type", "version", "prev_hash", "hash"])
def test_a_null_column_is_an_integrity_error_naming_the_row(db: Path, column: str) -> None:
    with duckdb.connect(str(db)) as con:
        if column == "seq":  # seq is part of the primary key: rebuild the table without it to store a NULL
            con.execute("CREATE TABLE copy AS SELECT * FROM events")
            con.execute("DROP TABLE events")
            con.execute("ALTER TABLE copy RENAME TO events")
        con.execute(f"UPDATE events SET {column} = NULL WHERE run_id = 'run-1' AND seq = 1")
    with pytest.raises(IntegrityError) as info:
        DuckDBEventStore(db, read_only=True).read("run-1")
    assert info.value.code == "E603" and f"has NULL {column}" in info.value.message and "run-1" in info.value.message


def test_a_null_run_id_is_an_integrity_error(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE copy AS SELECT * FROM events")
        con.execute("DROP TABLE events")
        con.execute("ALTER TABLE copy RENAME TO events")
        con.execute("UPDATE events SET run_id = NULL WHERE seq = 2")
    with pytest.raises(IntegrityError) as info:
        DuckDBEventStore(db, read_only=True).run_ids()
    assert info.value.code == "E603" and "NULL run_id" in info.value.message


def test_a_run_whose_first_event_was_deleted_is_still_listed(db: Path) -> None:
    DuckDBEventStore(db).append("run-2", 0, events())
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM events WHERE run_id = 'run-1' AND seq = 0")
    store = DuckDBEventStore(db, read_only=True)
    assert store.run_ids() == ["run-1", "run-2"]
    assert "expected seq 0" in chain_problems(store.read("run-1"))[0]


def test_reading_a_missing_file_returns_nothing_and_creates_nothing(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "absent.duckdb")
    assert store.read("run-1") == [] and store.run_ids() == []
    assert not (tmp_path / "absent.duckdb").exists()


def test_another_process_reads_the_same_stream(db: Path) -> None:
    code = """
        import json, sys
        from invarlock.adapters.duckdb_store import DuckDBEventStore
        rows = DuckDBEventStore(sys.argv[1], read_only=True).read("run-1")
        print(json.dumps([[r.seq, r.payload.decode(), r.recorded_at, r.prev_hash, r.hash] for r in rows]))
    """
    child = json.loads(run_python(code, str(db)).stdout)
    mine = [[r.seq, r.payload.decode(), r.recorded_at, r.prev_hash, r.hash] for r in DuckDBEventStore(db).read("run-1")]
    assert child == mine and len(mine) == 3


@pytest.mark.parametrize("kind", ["random bytes", "empty file", "other duckdb database"])
def test_a_file_that_is_not_an_event_store_is_refused_and_left_untouched(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "foreign.duckdb"
    if kind == "other duckdb database":
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE sales(id INTEGER)")
        con.close()
    else:
        path.write_bytes(os.urandom(4096) if kind == "random bytes" else b"")
    before = path.read_bytes()
    attempts = [
        lambda: DuckDBEventStore(path).append("run-1", 0, events()),
        lambda: DuckDBEventStore(path).read("run-1"),
        lambda: DuckDBEventStore(path, read_only=True).run_ids(),
    ]
    for attempt in attempts:
        with pytest.raises(UsageError) as info:
            attempt()
        assert info.value.code == "E501" and str(path) in info.value.message and info.value.hint
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.duckdb"]


def test_an_open_error_nobody_foresaw_still_names_a_fix(tmp_path: Path) -> None:
    from invarlock.adapters.duckdb_connection import open_error

    error = open_error(tmp_path / "x.duckdb", duckdb.IOException("IO Error: something new\nsecond line"))
    assert error.code == "E501" and error.message.endswith("x.duckdb: IO Error: something new")
    assert "free space" in error.hint  # it once printed "ERROR [...] cannot open ..." and no fix at all


def test_read_only_store_refuses_appends_with_a_clear_error(db: Path) -> None:
    store = DuckDBEventStore(db, read_only=True)
    with pytest.raises(UsageError) as info:
        store.append("run-1", 3, events())
    assert info.value.code == "E502" and "read-only" in info.value.one_line()
    assert len(store.read("run-1")) == 3


def test_read_only_opening_of_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        DuckDBEventStore(tmp_path / "missing.duckdb", read_only=True)
    assert info.value.code == "E506"


def test_a_damaged_block_read_from_an_open_store_is_e501(tmp_path: Path) -> None:
    """DuckDB raises its bare `Error` for a block whose checksum fails: `runs`, `events`, `replay` and `run` on
    such a file said E999 (the inputs hunt)."""
    from invarlock.adapters.duckdb_connection import stored_data_error

    said = "Corrupt database file: computed checksum 1 does not match stored checksum 2 in block at location 9"
    error = stored_data_error(tmp_path / "x.duckdb", duckdb.Error(said))
    assert error.code == "E501" and error.message.endswith(f"x.duckdb: {said}") and "restored from a copy" in error.hint


def test_a_store_is_created_in_a_working_folder_whose_name_is_not_utf8(tmp_path: Path, monkeypatch) -> None:
    """DuckDB takes UTF-8 paths: creating `ev.duckdb` in such a folder threw std::bad_cast (E999: the inputs hunt);
    it is created through the relative path now, and a path with no UTF-8 form is E502."""
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/d\xff"))
    folder.mkdir()
    monkeypatch.chdir(folder)
    DuckDBEventStore(Path("ev.duckdb")).append("run-1", 0, events())
    assert len(DuckDBEventStore(Path("ev.duckdb"), read_only=True).read("run-1")) == 3
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(UsageError) as info:
        DuckDBEventStore(folder / "other.duckdb").append("run-1", 0, events())
    assert info.value.code == "E502" and "UTF-8" in info.value.message


def test_appending_to_a_read_only_file_is_refused(db: Path) -> None:
    db.chmod(0o444)
    with pytest.raises(UsageError) as info:
        DuckDBEventStore(db).append("run-1", 3, events())
    assert info.value.code == "E502" and "read-only" in info.value.one_line()
    db.chmod(0o644)
    assert len(DuckDBEventStore(db).read("run-1")) == 3


def test_a_store_under_a_file_is_e502_as_the_doctor_says(tmp_path: Path) -> None:
    """It was E501 "cannot open event store afile/ev.duckdb: Not a directory" where the doctor said E502 (the doctor
    hunt): both now name the file standing where a folder must be."""
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    store = DuckDBEventStore(tmp_path / "afile" / "ev.duckdb")
    with pytest.raises(UsageError) as info:
        store.append("run-1", 0, events())
    assert info.value.code == "E502"
    assert info.value.message.endswith(f"ev.duckdb: {tmp_path / 'afile'} is not a folder")
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "x"


def test_a_file_locked_by_another_process_names_the_file(db: Path) -> None:
    code = """
        import sys, time, duckdb
        con = duckdb.connect(sys.argv[1])
        print("locked", flush=True)
        time.sleep(30)
    """
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(db)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        with pytest.raises(UsageError) as info:
            DuckDBEventStore(db, lock_wait_s=0.2).append("run-1", 3, events())
        assert info.value.code == "E505" and str(db) in info.value.message
    finally:
        holder.kill()
        holder.wait()


def test_tampered_payload_is_named_by_chain_problems(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute("""UPDATE events SET payload = '{"reason":"edited","type":"rollback_performed.v1"}'
                   WHERE run_id = 'run-1' AND seq = 1""")  # fmt: skip
    con.close()
    problems = chain_problems(DuckDBEventStore(db, read_only=True).read("run-1"))
    assert problems and all("seq 1" in problem for problem in problems)


def test_a_killed_writer_leaves_a_valid_prefix(tmp_path: Path) -> None:
    path = tmp_path / "killed.duckdb"
    code = """
        import sys
        from invarlock.adapters.duckdb_store import DuckDBEventStore
        from invarlock.domain.events import RollbackPerformed
        store = DuckDBEventStore(sys.argv[1])
        for batch in range(10_000):
            store.append("run-k", 3 * batch, [RollbackPerformed(reason=str(batch))] * 3)
            print(batch, flush=True)
    """
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path)], stdout=subprocess.PIPE)
    assert writer.stdout is not None
    for _ in range(6):
        assert writer.stdout.readline(), "the writer died before it was killed"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    rows = DuckDBEventStore(path, read_only=True).read("run-k")
    assert len(rows) >= 18 and len(rows) % 3 == 0
    assert chain_problems(rows) == []


def test_two_processes_appending_at_once_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    DuckDBEventStore(path).append("run-0", 0, events())
    code = """
        import sys
        from invarlock.adapters.duckdb_store import DuckDBEventStore
        from invarlock.domain.events import RollbackPerformed
        store = DuckDBEventStore(sys.argv[1], lock_wait_s=10)
        for seq in range(15):
            store.append(sys.argv[2], seq, [RollbackPerformed(reason=str(seq))])
    """
    writers = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path), run_id], stderr=subprocess.PIPE)
        for run_id in ("run-a", "run-b")
    ]
    assert [w.wait(timeout=60) for w in writers] == [0, 0], [w.stderr.read() for w in writers if w.stderr]
    store = DuckDBEventStore(path, read_only=True)
    assert sorted(store.run_ids()) == ["run-0", "run-a", "run-b"]
    assert all(len(store.read(r)) == 15 and chain_problems(store.read(r)) == [] for r in ("run-a", "run-b"))


def test_ctrl_c_while_duckdb_runs_an_append_is_a_keyboard_interrupt_and_writes_nothing(db: Path, monkeypatch) -> None:
    """DuckDB raises a Ctrl-C during a statement as RuntimeError('Query interrupted'): `verify --events` (and run,
    certify) ended in E999 with exit 1; it is the KeyboardInterrupt it stands for (E000 interrupted, exit 130)."""
    import threading

    from invarlock.adapters import duckdb_run_index

    def slow_statement(con: duckdb.DuckDBPyConnection, entry: object) -> None:  # the append's last statement
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        # a scan of about 2 s: whether DuckDB stops at the interrupt at once or only at the statement's end depends
        # on the process (at once alone; under pytest-xdist a 10^10-row scan ran its 35-50 s to the end first)
        con.execute("SELECT i % 1000 AS k, count(*) FROM range(500000000) t(i) GROUP BY k").fetchall()

    before = DuckDBEventStore(db, read_only=True).read("run-1")
    monkeypatch.setattr(duckdb_run_index, "write_entry", slow_statement)
    with pytest.raises(KeyboardInterrupt):
        DuckDBEventStore(db).append("run-2", 0, events())
    monkeypatch.undo()
    store = DuckDBEventStore(db, read_only=True)
    assert store.read("run-1") == before and store.read("run-2") == []


def test_ctrl_c_while_duckdb_imports_zoneinfo_for_a_read_is_a_keyboard_interrupt(db: Path) -> None:
    """DuckDB imports zoneinfo on the first fetch of a TIMESTAMPTZ (once per process, hence a fresh one); Ctrl-C in
    that import came back as an InvalidInputException ending in 'KeyboardInterrupt: ', which every command read as
    an altered store (E603, exit 3)."""
    code = """
        import sys
        from invarlock.adapters.duckdb_store import DuckDBEventStore

        class CtrlC:
            @staticmethod
            def find_spec(name, path=None, target=None):
                if name == "zoneinfo":
                    raise KeyboardInterrupt

        sys.meta_path.insert(0, CtrlC)
        try:
            DuckDBEventStore(sys.argv[1], read_only=True).read("run-1")
        except BaseException as exc:
            print(type(exc).__name__)
    """
    assert run_python(code, str(db)).stdout.split() == ["KeyboardInterrupt"]


def test_a_dangling_symbolic_link_as_the_store_is_named_by_the_run_and_the_doctor(tmp_path: Path) -> None:
    """The run said E501 naming a temporary file beside the missing target, with a hint about damaged files, and
    the doctor said the run would create the store (the event-store hunt)."""
    from invarlock.adapters.system_probe import LocalSystemProbe

    link = tmp_path / "events.duckdb"
    link.symlink_to(tmp_path / "missing" / "store.duckdb")
    said = f"cannot create event store {link}: it is a symbolic link to {tmp_path}/missing/store.duckdb, whose folder"
    for attempt in (lambda: DuckDBEventStore(link).append("run-1", 0, events()),
                    lambda: LocalSystemProbe().store_summary(str(link))):  # fmt: skip
        with pytest.raises(UsageError) as info:
            attempt()
        assert info.value.code == "E502" and info.value.message.startswith(said), info.value.message
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("cause", ["File too large", "No space left on device", "Disk quota exceeded"])
def test_a_write_the_disk_has_no_room_for_is_a_shortage_that_leaves_the_run_resumable(
    tmp_path: Path, cause: str
) -> None:
    """A full disk under the store was E501 "a damaged file must be restored": the run was recorded failed and could
    not be resumed, though DuckDB had rolled the write back and the store was intact (the robustness hunt)."""
    from invarlock.adapters.duckdb_connection import open_error, stored_data_error
    from invarlock.domain.errors import ResourceShortage

    said = f'IO Error: Could not write file "{tmp_path}/x.duckdb.wal": {cause}'
    for mapped in (stored_data_error, open_error):  # a full disk as the store is created, too
        error = mapped(tmp_path / "x.duckdb", duckdb.IOException(said))
        assert isinstance(error, ResourceShortage) and error.code == "E501" and cause in error.message
        assert "free space" in error.hint and "restored from a copy" not in error.hint
