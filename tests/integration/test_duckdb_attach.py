"""Store operations on the process's one DuckDB (adapters/duckdb_attach.py): each leaves nothing attached, its
file closed and checkpointed for another process, and a failed operation leaves no transaction behind."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from invarlock.adapters import duckdb_attach
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain.errors import ConcurrencyConflict
from invarlock.domain.events import PreviewAssessed, RunCompleted, chain_problems
from invarlock.domain.run_query import RunQuery


def events() -> list:
    return [
        PreviewAssessed(ratio=1.0022, catastrophe_ratio=2.0, catastrophe=False),
        RunCompleted(finished_at="2026-01-01T00:00:00+00:00", status="ok", verdict="PASS"),
    ]


def attached_databases() -> set[str]:
    rows = duckdb_attach._instance().execute("SELECT database_name FROM duckdb_databases()").fetchall()
    return {str(row[0]) for row in rows} - {"memory", "system", "temp"}


def test_an_operation_leaves_the_file_closed_and_checkpointed_for_another_process(tmp_path: Path) -> None:
    path = tmp_path / "ev.duckdb"
    store = DuckDBEventStore(path)
    store.append("run-1", 0, events())
    assert [r.type for r in store.read("run-1")] == ["preview_assessed", "run_completed"]
    assert store.indexed_runs(RunQuery())[1] == 1
    assert attached_databases() == set()
    assert not Path(f"{path}.wal").exists()
    writer = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute(\"INSERT INTO invarlock_meta VALUES ('k', 'v')\")"
    subprocess.run([sys.executable, "-c", writer, str(path)], check=True, capture_output=True)
    assert len(store.read("run-1")) == 2


def test_a_failed_append_leaves_no_transaction_and_nothing_attached(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "ev.duckdb")
    store.append("run-1", 0, events())
    with pytest.raises(ConcurrencyConflict):
        store.append("run-1", 0, events())  # stale: seq 0 is taken
    assert attached_databases() == set()
    store.append("run-1", 2, events())
    assert chain_problems(store.read("run-1")) == []
    assert len(store.read("run-1")) == 4


def test_a_path_with_a_quote_is_the_file_it_names(tmp_path: Path) -> None:
    path = tmp_path / "it's" / "a 'store'.duckdb"
    DuckDBEventStore(path).append("run-1", 0, events())
    assert len(DuckDBEventStore(path, read_only=True).read("run-1")) == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["a 'store'.duckdb"]


def test_threads_appending_and_reading_at_once_keep_every_chain(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "ev.duckdb")
    store.append("seed", 0, events())
    failures: list[BaseException] = []

    def work(run: str) -> None:
        try:
            for seq in range(0, 10, 2):
                store.append(run, seq, events())
                store.read(run)
        except BaseException as exc:  # reported below: a thread's exception would be lost
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(f"run-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for n in range(4):
        stream = store.read(f"run-{n}")
        assert len(stream) == 10 and chain_problems(stream) == []
    assert attached_databases() == set()


def test_a_process_after_a_fork_makes_its_own_instance(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = duckdb_attach._instance()
    monkeypatch.setattr(duckdb_attach.os, "getpid", lambda: -1)  # what a forked child's pid looks like to it
    second = duckdb_attach._instance()
    assert second is not first
    DuckDBEventStore(tmp_path / "ev.duckdb").append("run-1", 0, events())
    assert duckdb_attach._instance() is second
