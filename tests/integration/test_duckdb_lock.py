"""Every InvarLock opener of an event store takes the store's flock first: the store, the audit reader and the
doctor's probe wait for a writer's transaction, and name the file (E505) when it does not end in time.

A flock held through another open file description conflicts within one process too, so the holder here is this
test itself.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from invarlock.adapters import duckdb_audit, duckdb_lock
from invarlock.adapters.duckdb_audit import DuckDBAuditQueries
from invarlock.adapters.duckdb_lock import store_lock
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.adapters.system_probe import LocalSystemProbe
from invarlock.cli.bootstrap import open_store
from invarlock.domain.errors import UsageError
from invarlock.domain.events import RollbackPerformed

SHORT_WAIT_S = 0.1


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "events.duckdb"
    DuckDBEventStore(path).append("run-a", 0, [RollbackPerformed(reason="a0")])
    monkeypatch.setattr(duckdb_audit, "LOCK_WAIT_S", SHORT_WAIT_S)
    monkeypatch.setattr(duckdb_lock, "LOCK_WAIT_S", SHORT_WAIT_S)  # the probe imports it when it runs
    return path


def assert_locked(info: pytest.ExceptionInfo[UsageError], db: Path) -> None:
    assert info.value.code == "E505" and str(db) in info.value.message and "locked" in info.value.message


def test_a_writer_holding_the_store_makes_every_opener_wait_then_name_the_file(db: Path) -> None:
    with store_lock(db, exclusive=True, wait_s=0):
        with pytest.raises(UsageError) as info:
            DuckDBEventStore(db, read_only=True, lock_wait_s=SHORT_WAIT_S).read("run-a")
        assert_locked(info, db)
        with pytest.raises(UsageError) as info:
            DuckDBEventStore(db, lock_wait_s=SHORT_WAIT_S).append("run-a", 1, [RollbackPerformed(reason="a1")])
        assert_locked(info, db)
        with pytest.raises(UsageError) as info:
            DuckDBAuditQueries(db, timeout_s=5).query("SELECT count(*) FROM events")
        assert_locked(info, db)
        with pytest.raises(UsageError) as info:
            LocalSystemProbe().store_summary(str(db))
        assert_locked(info, db)
    assert len(DuckDBEventStore(db, read_only=True).read("run-a")) == 1  # released with the block: nothing written


def test_readers_share_the_store_and_a_writer_waits_for_them(db: Path) -> None:
    with store_lock(db, exclusive=False, wait_s=0):
        assert len(DuckDBEventStore(db, read_only=True).read("run-a")) == 1
        assert DuckDBAuditQueries(db, timeout_s=5).query("SELECT count(*) FROM events").rows == ((1,),)
        summary = LocalSystemProbe().store_summary(str(db))
        assert summary is not None and summary.events == 1
        with pytest.raises(UsageError) as info:
            DuckDBEventStore(db, lock_wait_s=SHORT_WAIT_S).append("run-a", 1, [RollbackPerformed(reason="a1")])
        assert_locked(info, db)
    DuckDBEventStore(db).append("run-a", 1, [RollbackPerformed(reason="a1")])
    assert len(DuckDBEventStore(db, read_only=True).read("run-a")) == 2


def test_a_store_that_vanished_before_its_lock_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone.duckdb"
    with pytest.raises(UsageError) as info, store_lock(missing, exclusive=False, wait_s=0):
        pass
    assert info.value.code == "E502" and str(missing) in info.value.message and "No such file" in info.value.message


def test_a_runs_store_outwaits_a_reader_holding_the_store_past_the_default_two_seconds(db: Path) -> None:
    """An audit query may hold the store for its whole --timeout: a run's append must not stop with E505."""
    held, release = threading.Event(), threading.Event()

    def reader() -> None:
        with store_lock(db, exclusive=False, wait_s=0):
            held.set()
            release.wait(timeout=60)

    holder = threading.Thread(target=reader)
    holder.start()
    held.wait(timeout=10)
    threading.Timer(2.5, release.set).start()  # past the 2 s a read-only opener waits
    try:
        open_store(db).append("run-a", 1, [RollbackPerformed(reason="a1")])
    finally:
        release.set()
        holder.join()
    assert len(DuckDBEventStore(db, read_only=True).read("run-a")) == 2
