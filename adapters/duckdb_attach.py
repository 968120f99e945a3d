"""Each store operation attaches the store's file to one in-memory DuckDB kept by the process, and detaches it.

A DuckDB instance made per operation (`duckdb.connect` on the file, then `close`) cost 18–21 ms on the 2-core
Intel Xeon; attaching the file to an instance the process keeps cost 5–6 ms for the same insert
(docs/performance.md, "One DuckDB per process"). DETACH closes the file as a close does (its WAL checkpointed into
it, DuckDB's own lock released), so store_lock's flock (duckdb_lock.py) still spans the whole time DuckDB holds the
file. Each operation gets a connection of its own (a cursor of the instance) whose default catalog is the store,
so every statement names its tables as before; its TEMP tables are its own and end with it.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from invarlock.domain.canonical import is_utf8
from invarlock.domain.errors import UsageError

_aliases = itertools.count()
_guard = threading.Lock()
_held: dict[int, duckdb.DuckDBPyConnection] = {}  # the instance, by the pid that made it (none is used across a fork)


def _instance() -> duckdb.DuckDBPyConnection:
    with _guard:
        pid = os.getpid()
        if pid not in _held:
            _held.clear()
            _held[pid] = duckdb.connect(":memory:")
        return _held[pid]


def _discard(instance: duckdb.DuckDBPyConnection) -> None:
    """Close the instance (and every file still attached to it); the next operation makes a new one."""
    with _guard:
        if _held.get(os.getpid()) is instance:
            _held.clear()
    instance.close()


def duckdb_path_text(path: Path, action: str) -> str:
    """`path` as DuckDB can read it: DuckDB takes UTF-8 paths only (a folder named in another encoding made it throw
    std::bad_cast, E999: the inputs hunt), so such a path is given relative to the working folder, as the store's
    own path is when the store is there; E502 naming `action` when neither form is UTF-8."""
    text = str(path)
    if is_utf8(text):
        return text
    relative = os.path.relpath(path)
    if is_utf8(relative):
        return relative
    raise UsageError(
        "E502",
        f"cannot {action} event store in {str(path.parent)!a}: DuckDB takes UTF-8 paths only",
        "use an --events path whose folder names are UTF-8",
    )


@contextmanager
def attached(path: Path, *, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection whose default catalog is the store file at `path`, attached read-only unless `write`.

    Raises:
        duckdb.Error: DuckDB cannot attach the file (the same errors, word for word, as `duckdb.connect` on it).
    """
    instance = _instance()
    alias = f"invarlock_store_{next(_aliases)}"
    literal = "'" + duckdb_path_text(path, "open").replace("'", "''") + "'"
    con = instance.cursor()
    try:
        con.execute(f"ATTACH {literal} AS {alias}{'' if write else ' (READ_ONLY)'}")
    except BaseException:
        con.close()
        raise
    try:
        con.execute(f"USE {alias}")
        yield con
    finally:
        con.close()  # rolls back a transaction the operation left open
        _detach(instance, alias)


def _detach(instance: duckdb.DuckDBPyConnection, alias: str) -> None:
    detacher = instance.cursor()
    try:
        detacher.execute(f"DETACH {alias}")
    except duckdb.Error:
        # The file must not stay open once the flock is released: closing the instance closes it, or raises
        # what the close found (a WAL it could not checkpoint is replayed by the next open, as after a crash).
        detacher.close()
        _discard(instance)
        return
    detacher.close()
