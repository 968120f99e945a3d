"""What an append raises when its transaction ended before the rollback: the error that ended it, not DuckDB's
"cannot rollback - no transaction is active" (the store hunt: a full disk at commit, or a Ctrl-C just after it,
was reported as that E501)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
from invarlock.adapters import duckdb_store
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain.errors import UsageError
from invarlock.domain.events import PreviewAssessed, RunCompleted


def events() -> list:
    return [
        PreviewAssessed(ratio=1.0022, catastrophe_ratio=2.0, catastrophe=False),
        RunCompleted(finished_at="2026-01-01T00:00:00+00:00", status="ok", verdict="PASS"),
    ]


class _CommitThenRaise:
    """A connection whose commit commits, then raises `exc` (a Ctrl-C that lands just after the commit, or a
    commit that fails after ending its transaction)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, exc: BaseException) -> None:
        self._con, self._exc = con, exc

    def commit(self) -> None:
        self._con.commit()
        raise self._exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), duckdb.IOException("Could not write file: No space left")])
def test_the_error_that_ended_the_transaction_is_the_one_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    path = tmp_path / "ev.duckdb"
    store = DuckDBEventStore(path)
    store.append("run-0", 0, events())  # the file and its index exist: the next append is one transaction
    opened = duckdb_store.store_connection

    @contextmanager
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with opened(*args, **kwargs) as con:
            yield _CommitThenRaise(con, exc)

    monkeypatch.setattr(duckdb_store, "store_connection", wrapped)
    with pytest.raises((KeyboardInterrupt, UsageError)) as raised:
        store.append("run-1", 0, events())
    if isinstance(exc, KeyboardInterrupt):  # the Ctrl-C itself: the CLI then prints how to resume
        assert raised.value is exc
    else:  # E501 naming the write that failed
        assert isinstance(raised.value, UsageError) and raised.value.code == "E501"
        assert "No space left" in raised.value.message and "rollback" not in raised.value.message
    monkeypatch.undo()
    assert len(DuckDBEventStore(path, read_only=True).read("run-1")) == 2  # committed before the error
