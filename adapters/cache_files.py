"""Files of what invarlock can compute again (adapters/cache_dir.py), written so that a reader never takes a
damaged one: a magic line, the sha256 of the payload, the payload. A file is written under a temporary name
and renamed into place, so a concurrent reader sees a whole file or none; one whose payload does not match its
digest (truncated, damaged, another format) reads as None and is computed and written again."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import time
from pathlib import Path

DIGEST_BYTES = 32
STAGING_PREFIX = ".staging-"
STAGING_ABANDONED_S = 3600  # a staging file this old was left by a killed process


def file_sha256(path: Path) -> str:
    """sha256 (hex) of the file's bytes (memoised per path, size and modification time)."""
    stat = path.stat()
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


def fresh_sha256(path: Path) -> str:
    """sha256 (hex) of the file's bytes now, read again (file_sha256 trusts an unchanged size and modification
    time, which a file rewritten within the clock's resolution keeps)."""
    return _file_sha256.__wrapped__(str(path), 0, 0)


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checked(path: Path, magic: bytes) -> bytes | None:
    """The payload of `path`, or None when it is missing, unreadable, empty or damaged. A read marks the file
    as the most recently used (`keep_newest` removes it last)."""
    try:
        data = path.read_bytes()
        os.utime(path)
    except OSError:
        return None
    head = len(magic) + DIGEST_BYTES
    if not data.startswith(magic) or len(data) <= head:
        return None
    payload = memoryview(data)[head:]
    return bytes(payload) if hashlib.sha256(payload).digest() == data[len(magic) : head] else None


def write_checked(path: Path, magic: bytes, payload: bytes) -> bool:
    """Write `payload` to `path` (folders created); False when the folder cannot be written (nothing kept)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(prefix=STAGING_PREFIX, dir=path.parent)
    except OSError:
        return False
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(magic + hashlib.sha256(payload).digest() + payload)
        os.replace(staging, path)
        return True
    except OSError:
        return False
    finally:
        Path(staging).unlink(missing_ok=True)


def keep_newest(folder: Path, pattern: str, keep: int) -> None:
    """Remove all but the `keep` most recently used files matching `pattern`, and staging files a killed process
    left more than STAGING_ABANDONED_S ago."""
    kept = sorted(folder.glob(pattern), key=_mtime, reverse=True)
    abandoned = [p for p in folder.glob(f"{STAGING_PREFIX}*") if time.time() - _mtime(p) > STAGING_ABANDONED_S]
    for path in kept[keep:] + abandoned:
        with contextlib.suppress(OSError):  # a folder or a file this user may not remove: left, the cache is optional
            path.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
