"""Giving back the resident pages of a memory-mapped checkpoint that no weight reads any more.

Why: safetensors maps a checkpoint file into memory and each weight is a view of its part of that mapping, so
the pages a load, the fingerprint and the bitwise comparison read stay resident as long as the mapping lives.
When a subject's weight takes the baseline's storage (`HFWeights.share_equal_weights`), its own bytes are read
by nothing, yet stay in the process's resident set: 108 MiB for the demo's embedding alone.

`madvise(MADV_DONTNEED)` drops such pages. It is applied only inside a file-backed mapping none of whose pages
was ever written (smaps `Anonymous: 0 kB`): every page there is the file's own, so anything that reads one
again gets the same bytes from the file, and no data can be lost whatever still points at it. Linux only;
elsewhere nothing is given back.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import platform
from pathlib import Path
from typing import Any

MADV_DONTNEED = 4  # linux/mman-common.h
SMAPS = Path("/proc/self/smaps")


class CleanMappings:
    """The file-backed mappings of this process none of whose pages was written, as /proc/self/smaps lists them
    when this is made (none off Linux). The caller must keep what it releases mapped until `release` returns
    (a view of it alive): a mapping unmapped since could hold other memory at the same address now."""

    def __init__(self) -> None:
        self._spans = _clean_file_mappings(_smaps()) if platform.system() == "Linux" else []

    def holds(self, address: int, length: int) -> bool:
        """Whether [address, address + length) lies inside one of these mappings."""
        return any(low <= address and address + length <= high for low, high in self._spans)

    def release(self, address: int, length: int) -> int:
        """Drop the resident pages wholly inside [address, address + length) when they lie in one of these
        mappings; the bytes given back."""
        start, end = _interior(address, length)
        if end <= start or not any(low <= start and end <= high for low, high in self._spans):
            return 0
        # A refusal leaves the pages resident, as they were before this existed: memory, never a value, is at stake.
        return end - start if _madvise()(start, end - start, MADV_DONTNEED) == 0 else 0


def _smaps() -> str:
    """This process's smaps, or nothing where /proc is not mounted (a sandbox): then no page is given back."""
    try:
        return SMAPS.read_text()
    except OSError:
        return ""


@functools.cache
def _madvise() -> Any:
    madvise = ctypes.CDLL(None).madvise
    madvise.argtypes, madvise.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
    return madvise


def _interior(address: int, length: int) -> tuple[int, int]:
    """The whole pages inside [address, address + length): a page shared with a neighbour stays."""
    page = mmap.PAGESIZE
    return -(-address // page) * page, (address + length) // page * page


def _clean_file_mappings(smaps: str) -> list[tuple[int, int]]:
    """(start, end) of each mapping backed by a file whose pages are all the file's (no anonymous copy)."""
    found: list[tuple[int, int]] = []
    span: tuple[int, int] | None = None
    for line in smaps.splitlines():
        fields = line.split()
        if _is_header(fields):
            low, high = fields[0].split("-")
            backed = len(fields) >= 6 and fields[5].startswith("/")
            span = (int(low, 16), int(high, 16)) if backed else None
        elif span is not None and fields[:1] == ["Anonymous:"]:
            if fields[1] == "0":
                found.append(span)
            span = None
    return found


def _is_header(fields: list[str]) -> bool:
    return len(fields) >= 5 and "-" in fields[0] and not fields[0].endswith(":")
