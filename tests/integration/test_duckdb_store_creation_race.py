"""Two processes using one event store file at once: no committed append is ever lost.

DuckDB decides that a database file is new before it takes the file's lock, and then writes a fresh database
into the file. A writer that decided "new" while another process created the file, appended and closed it, used
to wipe that process's committed events ("append expected seq 6 but the stream has 0 events"). DuckDB also reads
an existing file's headers before it takes the lock, and trusts them: a process that opened the file while another
committed loaded the older state and dropped the other's events at its next checkpoint (adapters/duckdb_lock.py).
Both windows are microseconds wide; strace holds one process inside them for a few seconds, so each race is hit
every time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from invarlock.adapters import duckdb_create
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.events import RollbackPerformed, chain_problems

HOLD_S = 3.0  # how long strace holds the second writer; the first appends twice well within it
WRITER = """
    import sys
    from invarlock.adapters.duckdb_store import DuckDBEventStore
    from invarlock.domain.events import RollbackPerformed
    store = DuckDBEventStore(sys.argv[1], lock_wait_s=30)
    for batch in range(2):
        store.append("run-b", 3 * batch, [RollbackPerformed(reason=f"b{batch}")] * 3)
    print("appended", flush=True)
"""


def batch(tag: str) -> list[RollbackPerformed]:
    return [RollbackPerformed(reason=tag)] * 3


def held_writer(db: Path, trace: Path, hold: list[str], script: str = WRITER) -> subprocess.Popen[str]:
    """The WRITER (or another `script`) process under strace, held by `hold` (strace options) at one system call."""
    strace = shutil.which("strace")
    assert strace, "strace is needed for this test: apt-get install strace (make test installs it when root)"
    command = [strace, "-f", "-qq", "-o", str(trace), *hold, sys.executable, "-c", textwrap.dedent(script), str(db)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_held(writer: subprocess.Popen[str], trace: Path, call: str, times: int = 1) -> None:
    """Return once the writer has entered `call` `times` times (strace writes a call's line when it enters it)."""
    deadline = time.monotonic() + 30
    while not (trace.exists() and trace.read_text(encoding="utf-8", errors="replace").count(call) >= times):
        assert writer.poll() is None, f"the writer never made the held call {call}: {writer.communicate()}"
        assert time.monotonic() < deadline, f"the writer never made the held call {call}"
        time.sleep(0.01)


def append_meanwhile_then_check(db: Path, writer: subprocess.Popen[str]) -> None:
    """While the writer is held: create the store here and append twice; then neither side lost anything."""
    store = DuckDBEventStore(db, lock_wait_s=30)
    store.append("run-a", 0, batch("a0"))
    store.append("run-a", 3, batch("a1"))
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0 and out == "appended\n", err
    try:
        store.append("run-a", 6, batch("a2"))  # the reported symptom: "expected seq 6 but the stream has 0 events"
    except InvarlockError as exc:
        pytest.fail(f"a committed append was lost: {exc}")
    for run_id, length in (("run-a", 9), ("run-b", 6)):
        records = DuckDBEventStore(db, read_only=True).read(run_id)
        assert len(records) == length and chain_problems(records) == []
    assert [p.name for p in db.parent.iterdir() if p.name.endswith(".creating")] == []


def test_a_writer_held_after_duckdb_found_no_file_wipes_nothing(tmp_path: Path) -> None:
    """Before the fix DuckDB itself created the shared file: held after deciding it is new, it wiped run-a."""
    db, trace = tmp_path / "shared.duckdb", tmp_path / "trace.txt"
    hold = ["-P", f"{db}.wal", "-e", "trace=stat,newfstatat"]
    hold += ["-e", f"inject=stat,newfstatat:delay_exit={int(HOLD_S * 1e6)}:when=1"]
    writer = held_writer(db, trace, hold)
    wait_until_held(writer, trace, f"{db}.wal")
    append_meanwhile_then_check(db, writer)


def test_a_writer_held_before_linking_its_new_store_uses_the_one_created_first(tmp_path: Path) -> None:
    """The store is created privately and linked into place; the link that comes second fails and is not used."""
    db, trace = tmp_path / "shared.duckdb", tmp_path / "trace.txt"
    hold = ["-e", "trace=link,linkat", "-e", f"inject=link,linkat:delay_enter={int(HOLD_S * 1e6)}:when=1"]
    writer = held_writer(db, trace, hold)
    wait_until_held(writer, trace, "link")
    append_meanwhile_then_check(db, writer)


def hold_duckdb_lock(db: Path, when: int) -> list[str]:
    """strace options that hold the process just before DuckDB locks `db` the `when`-th time (after its header read)."""
    return ["-P", str(db), "-e", "trace=fcntl", "-e", f"inject=fcntl:delay_enter={int(HOLD_S * 1e6)}:when={when}"]


def test_a_writer_held_between_duckdb_reading_the_header_and_locking_loses_nothing(tmp_path: Path) -> None:
    """Held there on its second append, the writer loaded the store as it was before run-a's appends; its checkpoint
    then dropped them and its own first batch, and both processes reported success."""
    db, trace = tmp_path / "shared.duckdb", tmp_path / "trace.txt"
    writer = held_writer(db, trace, hold_duckdb_lock(db, when=2))
    wait_until_held(writer, trace, "F_SETLK", times=2)
    append_meanwhile_then_check(db, writer)


READER = """
    import sys
    from invarlock.adapters.duckdb_store import DuckDBEventStore
    from invarlock.domain.events import chain_problems
    records = DuckDBEventStore(sys.argv[1], read_only=True, lock_wait_s=30).read("run-a")
    print(len(records), chain_problems(records), flush=True)
"""


def test_a_reader_held_between_duckdb_reading_the_header_and_locking_reads_a_whole_stream(tmp_path: Path) -> None:
    """Held there, a reader used to read the store through headers that a writer's checkpoint had since replaced."""
    db, trace = tmp_path / "shared.duckdb", tmp_path / "trace.txt"
    store = DuckDBEventStore(db, lock_wait_s=30)
    store.append("run-a", 0, batch("a0"))
    reader = held_writer(db, trace, hold_duckdb_lock(db, when=1), script=READER)
    wait_until_held(reader, trace, "F_SETLK")
    for seq in (3, 6):
        store.append("run-a", seq, batch(f"a{seq}"))
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0 and out in ("3 []\n", "9 []\n"), err
    assert len(DuckDBEventStore(db, read_only=True).read("run-a")) == 9


def test_a_folder_without_hard_links_is_a_clear_error_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_hard_links(source: object, target: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(duckdb_create.os, "link", no_hard_links)
    db = tmp_path / "events.duckdb"
    with pytest.raises(UsageError) as info:
        DuckDBEventStore(db).append("run-a", 0, batch("a0"))
    assert info.value.code == "E502" and str(db) in info.value.one_line() and "hard link" in info.value.one_line()
    assert list(tmp_path.iterdir()) == []


def test_a_store_path_that_is_a_link_to_a_missing_file_creates_the_store_where_it_points(tmp_path: Path) -> None:
    (tmp_path / "link.duckdb").symlink_to(tmp_path / "real.duckdb")
    DuckDBEventStore(tmp_path / "link.duckdb").append("run-a", 0, batch("a0"))
    assert (tmp_path / "link.duckdb").is_symlink()
    assert len(DuckDBEventStore(tmp_path / "real.duckdb", read_only=True).read("run-a")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.duckdb", "real.duckdb"]
