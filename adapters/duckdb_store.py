"""DuckDBEventStore: the EventStore port on a DuckDB file, one short connection per operation."""

from __future__ import annotations

import stat
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
from invarlock.domain.errors import IntegrityError, UsageError
from invarlock.domain.events import GENESIS_HASH, Event, RecordedEvent
from invarlock.domain.run_index import IndexedRun, index_appended
from invarlock.domain.run_query import RunQuery
from invarlock.domain.stream_check import IndexedStream

from . import duckdb_run_index as index
from .duckdb_connection import SCHEMA, check_ours, open_error, store_connection
from .duckdb_create import create_complete
from .duckdb_lock import LOCK_WAIT_S
from .duckdb_rows import COLUMNS as _COLUMNS
from .duckdb_rows import row_to_record as _row_to_record
from .folder_probe import WRITABLE_STORE_HINT, file_creation_problem
from .stored_rows import normalize_timestamp, record_events, stale_seq_conflict, utc_now_iso

_CREATE = [
    "CREATE TABLE IF NOT EXISTS events(run_id VARCHAR, seq BIGINT, type VARCHAR, version INTEGER, "
    "payload JSON, recorded_at TIMESTAMPTZ, prev_hash VARCHAR, hash VARCHAR, PRIMARY KEY(run_id, seq))",
    "CREATE TABLE IF NOT EXISTS invarlock_meta(key VARCHAR PRIMARY KEY, value VARCHAR)",
    f"INSERT OR IGNORE INTO invarlock_meta VALUES ('schema', '{SCHEMA}')",
    index.CREATE_INDEX,
]
_T = TypeVar("_T")
_TAIL = "SELECT coalesce(max(seq) + 1, 0), arg_max(hash, seq) FROM events WHERE run_id = ?"


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
        problem = file_creation_problem(self.path)  # as the doctor finds it; DuckDB's own error says less
        if problem is not None:
            raise UsageError("E502", f"cannot create event store {self.path}: {problem}", WRITABLE_STORE_HINT)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError("E502", f"cannot create folder for {self.path}: {exc}", WRITABLE_STORE_HINT) from exc
        try:
            create_complete(self.path, _CREATE)
        except duckdb.Error as exc:
            raise open_error(self.path, exc) from exc
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
            index.rollback_open(con)
            raise stale_seq_conflict(run_id, expected_seq, None) from exc
        except BaseException:
            index.rollback_open(con)
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
        none: tuple[list[IndexedStream], int] = ([], 0)
        return self._reading(lambda con: index.list_indexed(con, query), none)

    def folded_runs(self) -> list[IndexedRun]:
        """The entry every stored stream folds to, in one scan (see the RunIndex port)."""
        return self._reading(index.folded_entries, [])

    def _query(self, sql: str, params: list[object]) -> list[tuple[Any, ...]]:
        return self._reading(lambda con: con.execute(sql, params).fetchall(), [])

    def _reading(self, read: Callable[[duckdb.DuckDBPyConnection], _T], empty: _T) -> _T:
        """`read` on a read connection to the store, or `empty` when no file exists yet (a read-only store's
        missing file is refused instead)."""
        if not self.path.exists():
            if self._read_only:
                self._require_file()
            return empty
        with self._connect(write=False) as con:
            self._check_ours(con)
            return read(con)

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
