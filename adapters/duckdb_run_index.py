"""The run index of a DuckDB event store: the table `run_index`, one row per stream, kept in the append's transaction.

The table is derived data (domain/run_index.py) and the only one InvarLock ever replaces rows in; the events
table stays append-only. docs/audit.md says what the listing checks with it and what `--check-chains` adds.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import duckdb
import msgspec
from invarlock.domain.errors import IntegrityError
from invarlock.domain.run_index import OTHER, IndexedRun, index_stored
from invarlock.domain.run_query import RunQuery, started_instant
from invarlock.domain.stream_check import IndexedStream

from .duckdb_rows import COLUMNS, row_to_record

_FIELDS = tuple(IndexedRun.__struct_fields__)
_TYPES = {"events": "BIGINT"}
_DDL_COLUMNS = ", ".join(f"{f} {_TYPES.get(f, 'VARCHAR')}" for f in _FIELDS)
CREATE_INDEX = f"CREATE TABLE IF NOT EXISTS run_index({_DDL_COLUMNS}, started_instant VARCHAR, PRIMARY KEY(run_id))"
_UNINDEXED = f"CREATE TEMP TABLE unindexed({_DDL_COLUMNS}, started_instant VARCHAR)"
_VALUES = f"VALUES ({', '.join('?' * (len(_FIELDS) + 1))})"
_NULLS = " OR ".join(f"{c} IS NULL" for c in ("seq", "type", "version", "payload", "recorded_at", "prev_hash", "hash"))


def has_index(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store's file has the `run_index` table (stores written before it existed do not)."""
    try:
        con.execute("SELECT 1 FROM main.run_index LIMIT 0")  # 1 ms, against 25 ms for a duckdb_tables() lookup
    except duckdb.CatalogException:
        return False
    return True


def _params(run: IndexedRun) -> list[object]:
    return [*(getattr(run, f) for f in _FIELDS), started_instant(run)]


def write_entry(con: duckdb.DuckDBPyConnection, run: IndexedRun) -> None:
    """Insert or replace `run`'s row in `run_index`."""
    con.execute(f"INSERT OR REPLACE INTO run_index {_VALUES}", _params(run))


def read_entry(con: duckdb.DuckDBPyConnection, run_id: str) -> IndexedRun | None:
    """The stored index entry of `run_id`, None when it has none."""
    cursor = con.execute(f"SELECT {', '.join(_FIELDS)} FROM run_index WHERE run_id = ?", [run_id])
    row = cursor.fetchone()
    return None if row is None else _entry(row)


def _entry(row: tuple[Any, ...]) -> IndexedRun:
    """The entry of a `run_index` row; one that does not convert (an edited row) carries that as its problem."""
    try:
        return msgspec.convert(dict(zip(_FIELDS, row, strict=True)), IndexedRun)
    except msgspec.ValidationError as exc:
        problem = f"the run index row of run {row[0]} was altered ({exc})"
        return IndexedRun(run_id=str(row[0]), kind=OTHER, events=0, head_hash="", first_recorded_at="", problem=problem)


def stored_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[Any, ...]]:
    """The rows of one stream, ordered by seq, as `SELECT {COLUMNS}` returns them."""
    return con.execute(f"SELECT {COLUMNS} FROM events WHERE run_id = ? ORDER BY seq", [run_id]).fetchall()


def entry_of_stored(run_id: str, rows: list[tuple[Any, ...]]) -> IndexedRun:
    """The entry of a stream as stored; one whose rows cannot be read (a NULL column) gets a `problem`."""
    try:
        return index_stored([row_to_record(row) for row in rows])
    except IntegrityError as exc:
        return IndexedRun(run_id=run_id, kind=OTHER, events=0, head_hash="", first_recorded_at="", problem=exc.message)


def _stored_entries(con: duckdb.DuckDBPyConnection, *, unindexed: bool) -> Iterator[IndexedRun]:
    """The entries of every stream (only those without an index row when `unindexed`), read in one scan."""
    where = "run_id IS NOT NULL"
    if unindexed:
        where += " AND run_id NOT IN (SELECT run_id FROM run_index)"
    rows = con.execute(f"SELECT {COLUMNS} FROM events WHERE {where} ORDER BY run_id, seq").fetchall()
    for run_id, stream in itertools.groupby(rows, key=lambda row: row[0]):
        yield entry_of_stored(run_id, list(stream))


def folded_entries(con: duckdb.DuckDBPyConnection) -> list[IndexedRun]:
    """The entry of every stream as stored, read in one scan (a stream with NULL columns gets a `problem`)."""
    if con.execute("SELECT count(*) FROM events WHERE run_id IS NULL").fetchone() != (0,):
        raise IntegrityError("E603", "event store has rows with a NULL run_id", "the event store was altered")
    return list(_stored_entries(con, unindexed=False))


def backfill(con: duckdb.DuckDBPyConnection) -> None:
    """Create `run_index` and fill it from every stream, in one transaction (a store written before it existed)."""
    con.begin()
    try:
        con.execute(CREATE_INDEX)
        con.executemany(f"INSERT INTO run_index {_VALUES}", [_params(e) for e in _stored_entries(con, unindexed=False)])
        con.commit()
    except BaseException:
        rollback_open(con)
        raise


def rollback_open(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the transaction still open after a failure. A failed commit (a full disk) or a Ctrl-C just after a
    commit has ended it, and DuckDB's "cannot rollback - no transaction is active" would then replace the error
    that tells what happened (the store hunt: a full disk was reported as that E501)."""
    with contextlib.suppress(duckdb.TransactionException):
        con.rollback()


def _source(con: duckdb.DuckDBPyConnection) -> str:
    """The table(s) to list from: `run_index` plus a TEMP table with entries built now for unindexed streams."""
    indexed = has_index(con)
    con.execute(_UNINDEXED)
    entries = [_params(e) for e in _stored_entries(con, unindexed=indexed)]
    if entries:
        con.executemany(f"INSERT INTO unindexed {_VALUES}", entries)
    return (
        "(SELECT *, true AS indexed FROM run_index UNION ALL SELECT *, false FROM unindexed)"
        if indexed
        else ("(SELECT *, false AS indexed FROM unindexed)")
    )


def _filters(query: RunQuery) -> tuple[str, list[object]]:
    # An audit stream is left out when its first stored event says so too: a row edited to say `audit` is listed.
    audit = "coalesce(kind = 'audit', false) AND run_id IN (SELECT run_id FROM events WHERE seq = 0 AND type = ?)"
    where, params = [f"NOT ({audit})"], ["reexecution_started"]
    if query.run_id is not None:
        where.append("run_id = ?")
        params.append(query.run_id)
    if query.verdict is not None:
        where.append("verdict = ?")
        params.append(query.verdict)
    if query.baseline_digest is not None:
        where.append("starts_with(baseline_digest, ?)")
        params.append(query.baseline_digest)
    if query.since is not None:
        where.append("started_instant >= ?")
        params.append(query.since)
    return " AND ".join(where), params


def list_indexed(con: duckdb.DuckDBPyConnection, query: RunQuery) -> tuple[list[IndexedStream], int]:
    """The page `query` selects, each entry with its stream's current length, head-seq hash and NULL rows."""
    if con.execute("SELECT count(*) FROM events WHERE run_id IS NULL").fetchone() != (0,):
        raise IntegrityError("E603", "event store has rows with a NULL run_id", "the event store was altered")
    source, (where, params) = _source(con), _filters(query)
    total = con.execute(f"SELECT count(*) FROM {source} WHERE {where}", params).fetchone()
    limit = "" if query.limit is None else f"LIMIT {int(query.limit)}"
    sql = f"""
        WITH page AS (SELECT * FROM {source} WHERE {where}
                      ORDER BY first_recorded_at, run_id {limit} OFFSET {int(query.offset)}),
        stored AS (SELECT e.run_id, count(*) AS n, bool_or({_NULLS}) AS nulls,
                          max(CASE WHEN e.seq = p.events - 1 THEN e.hash END) AS head
                   FROM events e JOIN page p ON e.run_id = p.run_id GROUP BY e.run_id)
        SELECT {", ".join(f"page.{f}" for f in _FIELDS)}, page.indexed, coalesce(s.n, 0), s.head,
               coalesce(s.nulls, false)
        FROM page LEFT JOIN stored s ON s.run_id = page.run_id ORDER BY page.first_recorded_at, page.run_id"""
    rows = con.execute(sql, params).fetchall()
    return [_listed(row) for row in rows], int(total[0]) if total else 0


def _listed(row: tuple[Any, ...]) -> IndexedStream:
    n = len(_FIELDS)
    indexed, stored, head, nulls = row[n:]
    return IndexedStream(
        run=_entry(row[:n]), stored_events=int(stored), stored_head_hash=head, null_rows=bool(nulls), indexed=indexed
    )
