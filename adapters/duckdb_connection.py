"""Opening an InvarLock DuckDB store: one connection under the store's lock, DuckDB's errors told as InvarLock's
(locked, not a store, an earlier schema, an altered table, a full disk), and Ctrl-C told from a failed statement."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from invarlock.domain.errors import InvarlockError, ResourceShortage, UsageError

from .duckdb_lock import locked_error, store_lock
from .duckdb_rows import altered_store, check_columns
from .node_kind import odd_node

SCHEMA = "invarlock-events/v2"
# The OS's words for a write the disk, a quota or the file size limit has no room for (ENOSPC, EDQUOT, EFBIG)
_OUT_OF_ROOM = ("No space left on device", "Disk quota exceeded", "File too large")
_EARLIER = {"invarlock-events/v1": "before the event chain covered run_id, seq and recorded_at"}


def open_error(path: Path, exc: duckdb.Error) -> UsageError:
    text = str(exc)
    if "conflicting lock" in text.lower() or "could not set lock" in text.lower():
        return locked_error(path)
    if "not a valid DuckDB database" in text:
        return not_ours(path)
    if "read-only" in text.lower() or "permission denied" in text.lower():
        return UsageError("E502", f"event store {path} is not writable", "fix its permissions or use --events")
    first = (text.splitlines() or [type(exc).__name__])[0]
    if any(cause in first for cause in _OUT_OF_ROOM):
        return _no_room(path, first)
    problem = wal_problem(path)
    if problem is not None:
        return problem
    hint = "check the disk (free space, permissions); a damaged file must be restored from a copy, or use --events"
    return UsageError("E501", f"cannot open event store {path}: {first}", hint)


def wal_problem(path: Path) -> UsageError | None:
    """E501 naming the store's `.wal` when it is there but is no regular file; the store itself is intact. DuckDB's
    open of a FIFO hung every command, a link to nothing failed the first commit as a damaged store, and a folder
    (an output written under it) failed the open with DuckDB's words."""
    wal = Path(f"{path}.wal")
    try:
        kind = odd_node(wal)
    except OSError:  # a folder on the way that cannot be searched: DuckDB's open says so
        return None
    if kind is None:
        return None
    return UsageError("E501", f"cannot open event store {path}: {wal} is {kind}", f"move {wal} away")


def _no_room(path: Path, first: str) -> ResourceShortage:
    """A write the disk has no room for: DuckDB rolled it back, so the file is as it was (nothing to restore)."""
    room = "free space on the disk holding it (or raise the file size limit, ulimit -f)"
    return ResourceShortage("E501", f"cannot write event store {path}: {first}", room)


def stored_data_error(path: Path, exc: duckdb.Error) -> InvarlockError:
    """What a failed statement on an open store means (an interruption is told apart before: interrupted_query).

    A file DuckDB cannot read or write (a full disk, damaged pages) is E501; a table that does not hold what
    InvarLock writes (a dropped or retyped column, a value that does not convert) is an altered store, E603; any
    other DuckDB error (a block whose checksum fails is DuckDB's bare `Error`) is E501 too.
    """
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, (duckdb.ProgrammingError, duckdb.DataError, duckdb.IntegrityError, duckdb.InternalError)):
        return altered_store(path, first)
    if any(cause in first for cause in _OUT_OF_ROOM):
        return _no_room(path, first)
    hint = "check the disk (free space, permissions); a damaged file must be restored from a copy"
    return UsageError("E501", f"cannot read or write event store {path}: {first}", hint)


def _connect_retrying(path: Path, *, write: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """Connect, retrying while a process outside InvarLock (which takes no store_lock) holds DuckDB's lock."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=not write)
        except duckdb.Error as exc:
            error = open_error(path, exc)
            if error.code != "E505" or time.monotonic() >= deadline:
                raise error from exc
        time.sleep(0.02)  # another process holds the file for one short transaction


@contextmanager
def store_connection(path: Path, *, write: bool, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection to the store, made and closed under its store_lock (adapters/duckdb_lock.py), for
    every InvarLock opener; a DuckDB error while it is open is mapped by `stored_data_error`.

    Raises:
        UsageError: E505 when another process holds the store for `wait_s`; E501/E502 when it cannot be opened.
    """
    with store_lock(path, exclusive=write, wait_s=wait_s):
        con = _connect_retrying(path, write=write, wait_s=wait_s)
        try:
            yield con
        except (duckdb.Error, RuntimeError) as exc:
            if interrupted_query(exc):
                raise KeyboardInterrupt from exc  # Ctrl-C, which DuckDB raised as its own error (E999 otherwise)
            if not isinstance(exc, duckdb.Error):
                raise
            raise stored_data_error(path, exc) from exc
        finally:
            con.close()


def interrupted_query(exc: BaseException) -> bool:
    """Whether `exc` is DuckDB saying a statement was interrupted (an interrupted fetch is a RuntimeError), or that
    Ctrl-C stopped a Python import it needed (zoneinfo, on the first fetch of a TIMESTAMPTZ: an error whose text
    ends with the import's traceback, 'KeyboardInterrupt: ', which read as an altered store, E603)."""
    if isinstance(exc, duckdb.InterruptException):
        return True
    if isinstance(exc, RuntimeError) and "interrupted" in str(exc).lower():
        return True
    last = (str(exc).strip().splitlines() or [""])[-1]
    return isinstance(exc, duckdb.Error) and last.startswith("KeyboardInterrupt")


def not_ours(path: Path) -> UsageError:
    return UsageError(
        "E501",
        f"{path} exists but is not an InvarLock event store",
        "point --events at an InvarLock .duckdb file or a new path; the file was left untouched",
    )


def check_ours(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """UsageError E501 unless the open database carries InvarLock's schema marker."""
    try:
        row = con.execute("SELECT value FROM invarlock_meta WHERE key = 'schema'").fetchone()
    except duckdb.CatalogException:
        row = None
    if row is not None and row[0] in _EARLIER:
        raise UsageError(
            "E507",
            f"event store {path} was written by an earlier invarlock ({row[0]}, {_EARLIER[row[0]]})",
            "this version cannot check its chain; record new runs in a new --events file",
        )
    if row is not None and _newer_schema(row[0]):
        raise UsageError(
            "E507",
            f"event store {path} was written by a newer invarlock ({row[0]}; this release reads {SCHEMA})",
            "open it with that release or a newer one; record this release's runs in another --events file",
        )
    if row is None or row[0] != SCHEMA:
        raise not_ours(path)
    check_columns(con, path)


def _newer_schema(value: object) -> bool:
    """Whether `value` names a later version of SCHEMA's marker (`invarlock-events/vN`, N above ours)."""
    prefix, _, ours = SCHEMA.rpartition("/v")
    if not isinstance(value, str) or not value.startswith(f"{prefix}/v"):
        return False
    number = value.removeprefix(f"{prefix}/v")
    return number.isdigit() and number.isascii() and int(number) > int(ours)
