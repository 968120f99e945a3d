"""DuckDBAuditQueries: the AuditQueries port on an event-store file opened read-only, with the audit views."""

from __future__ import annotations

import json
import select
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from invarlock.domain.certificate import MAX_NESTING, nesting_depth
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.ports.audit import Deadline, QueryResult, timeout_error

from .duckdb_audit_views import view_statements
from .duckdb_connection import check_ours, interrupted_query, store_connection, stored_data_error
from .duckdb_lock import LOCK_WAIT_S

_MAX_DETAIL = 200
_ALLOWED_FIRST = {"SELECT", "WITH", "FROM"}
# DuckDB's memory for one query, and the rows an audit returns: a one-line `SELECT * FROM range(100000000)` took
# 7.5 GB before its timeout (the DoS hunt); a store of 10,000 runs holds about 1.3 million events.
AUDIT_MEMORY_LIMIT = "2GB"
MAX_AUDIT_ROWS = 5_000_000
_FETCH_ROWS = 10_000
_LOCKDOWN = [
    "SET enable_external_access = false",
    f"SET memory_limit = '{AUDIT_MEMORY_LIMIT}'",
    "SET lock_configuration = true",
]
_HINT = "pass one SELECT or WITH … SELECT query over the views listed in docs/audit.md"


def _refuse(problem: str) -> UsageError:
    return UsageError("E510", f"audit SQL refused: {problem}", _HINT)


def _sql_error(exc: duckdb.Error) -> UsageError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(first) > _MAX_DETAIL:  # DuckDB quotes the query near the error; a long query stays one short line
        first = first[:_MAX_DETAIL] + " …"
    return UsageError("E511", f"audit SQL failed: {first}", "fix the query; docs/audit.md lists every view and column")


def query_error(path: Path, exc: duckdb.Error) -> InvarlockError:
    """E501 for a store DuckDB cannot read (damaged pages: what `runs` says of it), else E511 for the query."""
    damaged = stored_data_error(path, exc) if isinstance(exc, duckdb.IOException) else None
    return damaged or _sql_error(exc)


def first_word(sql: str) -> str:
    """The first keyword of `sql` after blanks, opening parentheses and comments, upper-cased ("" if none).

    One forward pass: each comment is skipped with one `find`, so the time is linear in the query length
    (a regex that strips every comment was quadratic on many unterminated `/*`).
    """
    i, n = 0, len(sql)
    while i < n:
        if sql[i].isspace() or sql[i] == "(":
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            break
    j = i
    while j < n and sql[j].isascii() and sql[j].isalpha():
        j += 1
    return sql[i:j].upper()


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse (E510) anything but exactly one SELECT/WITH query, using DuckDB's own parser."""
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as exc:  # undecodable bytes from the shell arrive as lone surrogates
        raise _refuse("the query is not valid UTF-8 text") from exc
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise _sql_error(exc) from exc
    if len(statements) != 1:
        raise _refuse(f"{len(statements)} statements given, exactly one query is allowed")
    kind = statements[0].type
    first = first_word(sql)
    if kind != duckdb.StatementType.SELECT or first not in _ALLOWED_FIRST:
        if not first:  # `;SELECT 1` read "SELECT statements are not allowed"
            raise _refuse("the query does not begin with a keyword: begin it with SELECT or WITH (no leading ';')")
        if kind == duckdb.StatementType.MULTI:  # a dynamic PIVOT: DuckDB runs it as several statements
            several = "the query runs several statements (a PIVOT without IN)"
            raise _refuse(f"{several}: list its values inside a SELECT, SELECT * FROM (PIVOT … ON col IN (…) …)")
        what = kind.name if first == "WITH" else first  # WITH … INSERT: the statement's own kind
        raise _refuse(f"{what} statements are not allowed, only SELECT/WITH queries")


class DuckDBAuditQueries:
    """Read-only SQL over a DuckDB event store: the file is opened read-only, external access is disabled.

    Args:
        path: the event store file (`--events`).
        timeout_s: a query still running after this many seconds is interrupted (E512); the CLI default is
            `DEFAULT_AUDIT_TIMEOUT_S` in cli/bootstrap.py.

    Raises:
        UsageError: E506 when the file does not exist, E501 when it is not an InvarLock event store,
            E505 when a writer holds its lock.
    """

    def __init__(self, path: str | Path, *, timeout_s: float) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        if not self.path.is_file():
            raise UsageError("E506", f"event store {self.path} does not exist", "check the --events path")

    def _prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        check_ours(con, self.path)
        con.execute("SET TimeZone = 'UTC'")
        for statement in view_statements() + _LOCKDOWN:
            con.execute(statement)

    def query(self, sql: str) -> QueryResult:
        """Run one read-only query over the audit views; see the AuditQueries port for the errors."""
        deadline = Deadline(self.timeout_s)
        with store_connection(self.path, write=False, wait_s=LOCK_WAIT_S) as con:
            self._prepare(con)
            check_read_only(con, sql)
            description, rows = self._run(con, sql)
        json_columns = [str(d[1]) == "JSON" for d in description]
        decoded = tuple(_decode_json(row, json_columns) for row in deadline.rows(rows, "decoding"))
        return QueryResult(columns=tuple(str(d[0]) for d in description), rows=decoded)

    def _run(self, con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[Any], list[tuple[Any, ...]]]:
        """Execute and fetch while a watchdog interrupts the connection once `timeout_s` has passed."""
        done, fired = threading.Event(), threading.Event()
        watchdog = threading.Thread(target=_interrupt_after, args=(con, self.timeout_s, done, fired), daemon=True)
        watchdog.start()
        try:
            with _interrupt_on_ctrl_c(con):
                cursor = con.execute(sql)
                description = cursor.description or []
                rows = _fetched(cursor)
        except (duckdb.Error, RuntimeError) as exc:
            if interrupted_query(exc) and not fired.is_set():  # Ctrl-C, which DuckDB turned into its own error
                raise KeyboardInterrupt from exc
            if interrupted_query(exc):
                raise timeout_error(self.timeout_s, "in the query") from exc
            if isinstance(exc, duckdb.Error):
                raise query_error(self.path, exc) from exc
            raise
        finally:
            done.set()
            watchdog.join()
        return description, rows


def _fetched(cursor: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """The result's rows, a batch at a time (the timeout's interrupt reaches each fetch); E511 past MAX_AUDIT_ROWS."""
    rows: list[tuple[Any, ...]] = []
    while batch := cursor.fetchmany(_FETCH_ROWS):
        rows.extend(batch)
        if len(rows) > MAX_AUDIT_ROWS:
            raise UsageError(
                "E511",
                f"audit SQL failed: the query returns more than {MAX_AUDIT_ROWS:,} rows",
                "add a WHERE or a LIMIT, or aggregate (count, group by)",
            )
    return rows


@contextmanager
def _interrupt_on_ctrl_c(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Ctrl-C interrupts the query: Python runs its SIGINT handler only between bytecodes, and the main thread
    waits inside DuckDB, so the C-level handler's wake-up byte is read on a thread that interrupts the connection
    (the KeyboardInterrupt then follows as usual). Off the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            if select.select([reader], [], [], 0.05)[0] and signal.SIGINT in reader.recv(64):
                con.interrupt()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        yield
    finally:
        stop.set()
        listener.join()
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()


def _interrupt_after(
    con: duckdb.DuckDBPyConnection, timeout_s: float, done: threading.Event, fired: threading.Event
) -> None:
    """After `timeout_s`, set `fired` and interrupt `con` every 50 ms until `done` is set (one interrupt sent before
    the query started would be lost)."""
    if done.wait(timeout_s):
        return
    fired.set()
    while not done.is_set():
        con.interrupt()
        done.wait(0.05)


def _decode_json(row: tuple[Any, ...], json_columns: list[bool]) -> tuple[Any, ...]:
    """JSON columns come back as text; decode them so `--json` nests them instead of quoting them."""
    pairs = zip(row, json_columns, strict=True)
    return tuple(_nested(v) if is_json and isinstance(v, str) else v for v, is_json in pairs)


def _nested(text: str) -> Any:
    """The JSON value of `text`; the text itself, as stored, where it nests deeper than MAX_NESTING (an altered
    payload: no event invarlock writes nests that deep): Python's decoder meets a RecursionError a few thousand
    levels down, and writing out what Python 3.13 still decodes then does. Counting the brackets first keeps the
    depth scan off most cells."""
    if text.count("[") + text.count("{") > MAX_NESTING and nesting_depth(text.encode()) > MAX_NESTING:
        return text
    return json.loads(text)
