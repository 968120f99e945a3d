"""DuckDBEventStore: the EventStore port on a DuckDB file, one short connection per operation."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from invarlock.domain.errors import IntegrityError, InvarlockError, UsageError
from invarlock.domain.events import GENESIS_HASH, Event, RecordedEvent
from invarlock.domain.run_index import IndexedRun, index_appended
from invarlock.domain.run_query import RunQuery
from invarlock.domain.stream_check import IndexedStream

from . import duckdb_run_index as index
from .duckdb_create import create_complete
from .duckdb_lock import LOCK_WAIT_S, locked_error, store_lock
from .duckdb_rows import COLUMNS as _COLUMNS
from .duckdb_rows import altered_store, check_columns
from .duckdb_rows import row_to_record as _row_to_record
from .folder_probe import folder_write_problem
from .stored_rows import normalize_timestamp, record_events, stale_seq_conflict, utc_now_iso

SCHEMA = "invarlock-events/v2"
_EARLIER = {"invarlock-events/v1": "before the event chain covered run_id, seq and recorded_at"}
_CREATE = [
    "CREATE TABLE IF NOT EXISTS events(run_id VARCHAR, seq BIGINT, type VARCHAR, version INTEGER, "
    "payload JSON, recorded_at TIMESTAMPTZ, prev_hash VARCHAR, hash VARCHAR, PRIMARY KEY(run_id, seq))",
    "CREATE TABLE IF NOT EXISTS invarlock_meta(key VARCHAR PRIMARY KEY, value VARCHAR)",
    f"INSERT OR IGNORE INTO invarlock_meta VALUES ('schema', '{SCHEMA}')",
    index.CREATE_INDEX,
]
_TAIL = "SELECT coalesce(max(seq) + 1, 0), arg_max(hash, seq) FROM events WHERE run_id = ?"


def _open_error(path: Path, exc: duckdb.Error) -> UsageError:
    text = str(exc)
    if "conflicting lock" in text.lower() or "could not set lock" in text.lower():
        return locked_error(path)
    if "not a valid DuckDB database" in text:
        return _not_ours(path)
    if "read-only" in text.lower() or "permission denied" in text.lower():
        return UsageError("E502", f"event store {path} is not writable", "fix its permissions or use --events")
    first = (text.splitlines() or [type(exc).__name__])[0]
    hint = "check the disk (free space, permissions); a damaged file must be restored from a copy, or use --events"
    return UsageError("E501", f"cannot open event store {path}: {first}", hint)


def stored_data_error(path: Path, exc: duckdb.Error) -> InvarlockError | None:
    """What a failed statement on an open store means, or None for an interruption (left as it is).

    A file DuckDB cannot read or write (a full disk, damaged pages) is E501; a table that does not hold what
    InvarLock writes (a dropped or retyped column, a value that does not convert) is an altered store, E603.
    """
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, duckdb.OperationalError):
        hint = "check the disk (free space, permissions); a damaged file must be restored from a copy"
        return UsageError("E501", f"cannot read or write event store {path}: {first}", hint)
    if isinstance(exc, (duckdb.ProgrammingError, duckdb.DataError, duckdb.IntegrityError, duckdb.InternalError)):
        return altered_store(path, first)
    return None


def _connect_retrying(path: Path, *, write: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """Connect, retrying while a process outside InvarLock (which takes no store_lock) holds DuckDB's lock."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=not write)
        except duckdb.Error as exc:
            error = _open_error(path, exc)
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
            raise (stored_data_error(path, exc) or exc) from exc
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


def _not_ours(path: Path) -> UsageError:
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
    if row is None or row[0] != SCHEMA:
        raise _not_ours(path)
    check_columns(con, path)


def _row_params(r: RecordedEvent) -> list[object]:
    recorded_at = datetime.fromisoformat(r.recorded_at)
    return [r.run_id, r.seq, r.type, r.version, r.payload.decode(), recorded_at, r.prev_hash, r.hash]


class DuckDBEventStore:
    """Append-only, hash-chained event streams in the DuckDB table `events`.

    Args:
        path: the .duckdb file; created with its parent folders on the first append.
        read_only: open every connection read-only; appends raise E502.
        clock: returns the ISO-8601 UTC time stamped on each appended batch.
        lock_wait_s: how long to retry while another process holds the file before E505.

    Raises:
        UsageError: E506 when `read_only` and the file does not exist.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        clock: Callable[[], str] = utc_now_iso,
        lock_wait_s: float = LOCK_WAIT_S,
    ) -> None:
        self.path = Path(path)
        self._read_only = read_only
        self._clock = clock
        self._lock_wait_s = lock_wait_s
        self._indexed = False  # set once the file is known to have run_index (a table never dropped)
        if read_only:
            self._require_file()

    def _require_file(self) -> None:
        if not self.path.is_file():
            raise UsageError("E506", f"event store {self.path} does not exist", "check the --events path")

    def _connect(self, *, write: bool) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return store_connection(self.path, write=write, wait_s=self._lock_wait_s)

    def require_writable(self) -> None:
        """E502 now, as an append would give it, for a caller that appends only when its work is done."""
        if self._read_only:
            raise UsageError("E502", f"event store {self.path} was opened read-only", "open it for writing")
        if self.path.exists():
            self._refuse_read_only_file()

    def _refuse_read_only_file(self) -> None:
        # Root bypasses permission bits; a file with no write bit at all is still meant to stay untouched.
        if stat.S_IMODE(self.path.stat().st_mode) & 0o222 == 0:
            raise UsageError("E502", f"event store {self.path} is read-only", "make it writable or use --events")

    def _create(self) -> None:
        """Create the file with its schema, atomically: DuckDB never creates the shared file (duckdb_create.py)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError("E502", f"cannot create folder for {self.path}: {exc}", "use --events") from exc
        problem = folder_write_problem(self.path.parent)  # as the doctor finds it; DuckDB's own error says less
        if problem is not None:
            raise UsageError("E502", f"cannot create event store {self.path}: {problem}", "use --events")
        try:
            create_complete(self.path, _CREATE)
        except duckdb.Error as exc:
            raise _open_error(self.path, exc) from exc
        except OSError as exc:
            hint = "use --events on a local file system (the store is created through a hard link)"
            raise UsageError("E502", f"cannot create event store {self.path}: {exc.strerror or exc}", hint) from exc

    def _check_ours(self, con: duckdb.DuckDBPyConnection) -> None:
        check_ours(con, self.path)

    def append(self, run_id: str, expected_seq: int, events: Sequence[Event]) -> list[RecordedEvent]:
        """Append `events` at `expected_seq` in one transaction; E503 and no write if it is stale."""
        if self._read_only:
            raise UsageError("E502", f"event store {self.path} was opened read-only", "open it for writing")
        recorded_at = normalize_timestamp(self._clock())
        if self.path.exists():
            self._refuse_read_only_file()
        else:
            self._create()
        with self._connect(write=True) as con:
            self._check_ours(con)
            if not self._indexed and not index.has_index(con):
                index.backfill(con)
            self._indexed = True
            return self._append_in(con, run_id, expected_seq, events, recorded_at)

    def _append_in(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: str,
        expected_seq: int,
        events: Sequence[Event],
        recorded_at: str,
    ) -> list[RecordedEvent]:
        con.begin()
        try:
            next_seq, last_hash = con.execute(_TAIL, [run_id]).fetchone() or (0, None)
            if next_seq != expected_seq:
                raise stale_seq_conflict(run_id, expected_seq, int(next_seq))
            rows = record_events(run_id, expected_seq, last_hash or GENESIS_HASH, events, recorded_at)
            params = [_row_params(r) for r in rows]
            if params:
                entry = index_appended(self._prior_entry(con, run_id, int(next_seq), last_hash), rows, events)
                con.executemany(f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", params)
                if entry is not None:
                    index.write_entry(con, entry)
            con.commit()
        except duckdb.ConstraintException as exc:
            con.rollback()
            raise stale_seq_conflict(run_id, expected_seq, None) from exc
        except BaseException:
            con.rollback()
            raise
        return rows

    def _prior_entry(
        self, con: duckdb.DuckDBPyConnection, run_id: str, next_seq: int, last_hash: str | None
    ) -> IndexedRun | None:
        """The run's index entry before this append; rebuilt from its stored rows when it has a problem or does
        not end where the stream ends (rows appended by a writer that does not keep the index)."""
        prior = index.read_entry(con, run_id)
        if next_seq == 0 or (
            prior is not None and prior.problem is None and (prior.events, prior.head_hash) == (next_seq, last_hash)
        ):
            return prior
        return index.entry_of_stored(run_id, index.stored_rows(con, run_id))

    def indexed_runs(self, query: RunQuery) -> tuple[list[IndexedStream], int]:
        """The page of runs `query` selects from `run_index` (see the RunIndex port); a store written before
        the index existed, opened read-only, gets its entries built from its streams for this call."""
        if not self.path.exists():
            if self._read_only:
                self._require_file()
            return [], 0
        with self._connect(write=False) as con:
            self._check_ours(con)
            return index.list_indexed(con, query)

    def folded_runs(self) -> list[IndexedRun]:
        """The entry every stored stream folds to, in one scan (see the RunIndex port)."""
        if not self.path.exists():
            if self._read_only:
                self._require_file()
            return []
        with self._connect(write=False) as con:
            self._check_ours(con)
            return index.folded_entries(con)

    def _query(self, sql: str, params: list[object]) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            if self._read_only:
                self._require_file()
            return []
        with self._connect(write=False) as con:
            self._check_ours(con)
            return con.execute(sql, params).fetchall()

    def read(self, run_id: str) -> list[RecordedEvent]:
        """Every event of the stream ordered by seq; [] for an unknown run or a missing file."""
        sql = f"SELECT {_COLUMNS} FROM events WHERE run_id = ? ORDER BY seq"
        return [_row_to_record(row) for row in self._query(sql, [run_id])]

    def run_ids(self) -> list[str]:
        """Every run id with at least one event (seq 0 or not), ordered by earliest recorded_at, then run id.

        Raises:
            IntegrityError: E603 when a row has a NULL run_id (it belongs to no run).
        """
        sql = "SELECT run_id FROM events GROUP BY run_id ORDER BY min(recorded_at) NULLS LAST, run_id NULLS LAST"
        ids = [row[0] for row in self._query(sql, [])]
        if None in ids:
            raise IntegrityError("E603", "event store has rows with a NULL run_id", "the event store was altered")
        return [str(run_id) for run_id in ids]
