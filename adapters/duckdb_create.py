"""Create a DuckDB event store file so that it appears at its path complete, or not at all.

DuckDB decides that a database file is new (it finds no file) before it takes the file's lock, and a process that
decided so writes a fresh, empty database into the file once it holds the lock. When two processes create the
same store at once, the slower one can get the lock after the faster one has appended, committed and closed, and
wipe those committed events. So DuckDB only ever creates a private file here, and that file, schema included, is
hard-linked into place: the link fails when another process got there first, and then that process's store is used.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import duckdb
from invarlock.domain.canonical import is_utf8
from invarlock.domain.errors import UsageError


def _private_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.creating")


def _write_schema(private: Path, statements: Sequence[str]) -> None:
    con = duckdb.connect(_as_duckdb_reads(private))
    try:
        con.begin()
        for statement in statements:
            con.execute(statement)
        con.commit()
        con.execute("CHECKPOINT")  # everything in the file itself: its WAL does not travel with the link
    finally:
        con.close()


def _as_duckdb_reads(path: Path) -> str:
    """`path` in a form DuckDB can open: it takes paths as UTF-8, and a folder named in another encoding made it
    throw std::bad_cast (E999: the inputs hunt), so such a path is given relative to the working folder, as the
    store's own path is when the store is there; E502 when neither form is UTF-8."""
    text = str(path)
    if is_utf8(text):
        return text
    relative = os.path.relpath(path)
    if is_utf8(relative):
        return relative
    raise UsageError(
        "E502",
        f"cannot create event store in {str(path.parent)!a}: DuckDB takes UTF-8 paths only",
        "use an --events path whose folder names are UTF-8",
    )


def create_complete(path: Path, statements: Sequence[str]) -> bool:
    """Make `path` a DuckDB database holding `statements`' schema unless a file is there; True when this call did.

    The file is never visible at `path` half made, so a concurrent opener sees no file or a complete store.

    Raises:
        duckdb.Error: DuckDB cannot create the private file next to `path` (e.g. the folder is not writable).
        OSError: the private file cannot be linked to `path` (e.g. a file system without hard links).
    """
    target = path.resolve()  # a symbolic link to a file still to be made: make it where the link points
    private = _private_path(target)
    try:
        _write_schema(private, statements)
        try:
            os.link(private, target)
        except FileExistsError:
            return False
        return True
    finally:
        private.unlink(missing_ok=True)
        Path(f"{private}.wal").unlink(missing_ok=True)
