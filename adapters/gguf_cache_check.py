"""The files of a GGUF file's cached float32 conversion (hf_gguf.py) are the ones it wrote: each file's size,
modification time and sha256 are recorded beside them (`invarlock-gguf-files.json`) when the conversion is written,
and each load compares them. A file whose size or time changed is hashed again: the same bytes (a copy that did not
keep the times) pass; other bytes are E102, since a certificate would otherwise state the GGUF file's sha256 beside
weights that file does not dequantize to. A conversion written before this record existed is recorded at its first
load (the bytes it then holds)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from invarlock.domain.errors import UsageError

from .cache_files import file_sha256

FILES_FILE = "invarlock-gguf-files.json"


def record_files(folder: Path, skipped: tuple[str, ...]) -> None:
    """Write the size, modification time and sha256 of every file of `folder` but `skipped` and dotfiles."""
    listed = {path.name: _facts(path) for path in _files(folder, skipped)}
    handle, staging = tempfile.mkstemp(prefix=".files-", dir=folder)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(listed, out, sort_keys=True)
    os.replace(staging, folder / FILES_FILE)


def check_files(folder: Path, skipped: tuple[str, ...]) -> None:
    """UsageError E102 naming the first file of the cached conversion `folder` that is missing, added or holds other
    bytes than when it was written (see the module docstring); a conversion without its record is recorded now."""
    try:
        listed = json.loads((folder / FILES_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        record_files(folder, skipped)
        return
    except (OSError, ValueError):
        raise _changed(folder, FILES_FILE) from None
    present = {path.name: path for path in _files(folder, skipped)}
    if not isinstance(listed, dict) or set(listed) != set(present):
        differ = sorted(set(listed) ^ set(present)) if isinstance(listed, dict) else [FILES_FILE]
        raise _changed(folder, differ[0])
    rehashed = False
    for name, path in sorted(present.items()):
        same = _same(path, listed[name])
        if same is False:
            raise _changed(folder, name)
        rehashed = rehashed or same is None
    if rehashed:  # the same bytes under new times: recorded again, so the next load does not hash them
        record_files(folder, skipped)


def _same(path: Path, recorded: object) -> bool | None:
    """True when size and time are as recorded; None when they are not but the bytes are; else False."""
    if not isinstance(recorded, dict):
        return False
    stat = path.stat()
    if [stat.st_size, stat.st_mtime_ns] == [recorded.get("size"), recorded.get("mtime_ns")]:
        return True
    return None if file_sha256(path) == recorded.get("sha256") else False


def _facts(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}


def _files(folder: Path, skipped: tuple[str, ...]) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name not in skipped]


def _changed(folder: Path, name: str) -> UsageError:
    return UsageError(
        "E102",
        f"the cached conversion {folder} was changed after it was written ({name})",
        f"delete {folder}: the next run converts the GGUF file again",
    )
