"""Refuse a file that cannot be a DuckDB database before DuckDB opens it.

DuckDB opens some files that are not databases without complaint (a small JSON file opens read-write as an
empty database, and read-only fails with an unrelated message), so the header is checked first.
"""

from __future__ import annotations

from pathlib import Path

from invarlock.domain.errors import UsageError

from .duckdb_connection import not_ours, wal_problem
from .node_kind import mode_kind

_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file
_MAGIC_AT = 8


def holds_duckdb(path: Path) -> bool:
    """Whether `path` is a readable file with DuckDB's header (an event store a write must not replace)."""
    try:
        with path.open("rb") as handle:
            return handle.read(_MAGIC_AT + len(_MAGIC))[_MAGIC_AT:] == _MAGIC
    except OSError:
        return False


def require_duckdb_file(path: Path) -> None:
    """UsageError E501 when `path` exists but is not a DuckDB file, or its write-ahead log is not a regular file;
    nothing when it does not exist (yet)."""
    problem = wal_problem(path)
    if problem is not None:
        raise problem
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # a file where a folder must be: creating it says so (E502)
        return
    except OSError as exc:
        raise UsageError("E501", f"cannot open event store {path}: {exc.strerror}", "check the --events path") from exc
    except ValueError:  # the Python API passes any string; no file can have this name
        raise UsageError(
            "E501", f"event store {path!r} names no file: it holds a NUL", "check the --events path"
        ) from None
    kind = mode_kind(info.st_mode)
    if kind is not None:
        raise UsageError("E501", f"event store {path} is {kind}", "point --events at a .duckdb file")
    try:
        with path.open("rb") as handle:
            header = handle.read(_MAGIC_AT + len(_MAGIC))
    except OSError as exc:
        raise UsageError("E501", f"cannot read event store {path}: {exc.strerror}", "check its permissions") from exc
    if header[_MAGIC_AT:] != _MAGIC:
        raise not_ours(path)
