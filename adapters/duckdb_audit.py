"""DuckDBAuditQueries: the AuditQueries port on an event-store file opened read-only, with the audit views."""

from __future__ import annotations

import json
import re
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
from invarlock.domain.errors import UsageError
from invarlock.ports.audit import QueryResult

from .duckdb_audit_views import view_statements
from .duckdb_store import _open_error, check_ours

_FIRST_WORD = re.compile(r"^[\s(]*([A-Za-z]+)")
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_ALLOWED_FIRST = {"SELECT", "WITH", "FROM"}
_LOCKDOWN = ["SET enable_external_access = false", "SET lock_configuration = true"]
_HINT = "pass one SELECT or WITH … SELECT query over the views listed in docs/audit.md"


def _refuse(problem: str) -> UsageError:
    return UsageError("E510", f"audit SQL refused: {problem}", _HINT)


def _sql_error(exc: duckdb.Error) -> UsageError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UsageError("E511", f"audit SQL failed: {first}", "fix the query; docs/audit.md lists every view and column")


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse (E510) anything but exactly one SELECT/WITH query, using DuckDB's own parser."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise _sql_error(exc) from exc
    if len(statements) != 1:
        raise _refuse(f"{len(statements)} statements given, exactly one query is allowed")
    kind = statements[0].type
    match = _FIRST_WORD.match(_COMMENT.sub(" ", sql))
    first = match.group(1).upper() if match else ""
    if kind != duckdb.StatementType.SELECT or first not in _ALLOWED_FIRST:
        raise _refuse(f"{first or kind.name} statements are not allowed, only SELECT/WITH queries")


class DuckDBAuditQueries:
    """Read-only SQL over a DuckDB event store: the file is opened read-only, external access is disabled.

    Args:
        path: the event store file (`--events`).

    Raises:
        UsageError: E506 when the file does not exist, E501 when it is not an InvarLock event store,
            E505 when a writer holds its lock.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise UsageError("E506", f"event store {self.path} does not exist", "check the --events path")

    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise _open_error(self.path, exc) from exc
        try:
            self._prepare(con)
        except BaseException:
            con.close()
            raise
        return con

    def _prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        check_ours(con, self.path)
        con.execute("SET TimeZone = 'UTC'")
        for statement in view_statements() + _LOCKDOWN:
            con.execute(statement)

    def query(self, sql: str) -> QueryResult:
        """Run one read-only query over the audit views; see the AuditQueries port for the errors."""
        with closing(self._connect()) as con:
            check_read_only(con, sql)
            try:
                cursor = con.execute(sql)
                description = cursor.description or []
                rows: list[tuple[Any, ...]] = cursor.fetchall()
            except duckdb.Error as exc:
                raise _sql_error(exc) from exc
        json_columns = [str(d[1]) == "JSON" for d in description]
        decoded = tuple(_decode_json(row, json_columns) for row in rows)
        return QueryResult(columns=tuple(str(d[0]) for d in description), rows=decoded)


def _decode_json(row: tuple[Any, ...], json_columns: list[bool]) -> tuple[Any, ...]:
    """JSON columns come back as text; decode them so `--json` nests them instead of quoting them."""
    pairs = zip(row, json_columns, strict=True)
    return tuple(json.loads(v) if is_json and isinstance(v, str) else v for v, is_json in pairs)
