"""Giving back the resident pages of a memory-mapped checkpoint that no weight reads any more.

Why: safetensors maps a checkpoint file into memory and each weight is a view of its part of that mapping, so
the pages a load, the fingerprint and the bitwise comparison read stay resident as long as the mapping lives.
When a subject's weight takes the baseline's storage (`HFWeights.share_equal_weights`), when an edit gives a
weight new storage (`hf_shared.own_storage`), or when the kept LM head is copied out (`causal_reference`), the
bytes it held are read by nothing, yet stay in the process's resident set: 108 MiB for the demo's embedding alone.

`madvise(MADV_DONTNEED)` drops such pages. It is applied only to a span every page of which holds the file's own
bytes or nothing (`/proc/self/pagemap`: a resident page backed by the file, or a page neither resident nor
swapped out), so anything that reads one again gets the same bytes from the file and no data can be lost
whatever still points at it; a span with one page written (a private copy) or of anonymous memory is left
whole. Linux only (pagemap); elsewhere, or where pagemap cannot be read, nothing is given back.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
from pathlib import Path
from typing import Any

import numpy as np

MADV_DONTNEED = 4  # linux/mman-common.h
PAGEMAP = Path("/proc/self/pagemap")
# pagemap's bits of one page (Documentation/admin-guide/mm/pagemap.rst): resident, swapped out, and "file-page or
# shared-anon" (a private mapping's page written since is an anonymous copy, without it)
_RESIDENT, _SWAPPED, _FILE = np.uint64(1 << 63), np.uint64(1 << 62), np.uint64(1 << 61)


def clean(address: int, length: int) -> bool:
    """Whether the whole pages inside [address, address + length) (at least one) hold the file's own bytes or
    nothing: each resident one a page of the file, none swapped out. False where pagemap cannot be read."""
    start, end = _interior(address, length)
    if end <= start:
        return False
    entries = _pagemap(start, end)
    if entries is None:
        return False
    resident = (entries & _RESIDENT) != 0
    return bool(np.all(np.where(resident, (entries & _FILE) != 0, (entries & _SWAPPED) == 0)))


def release(address: int, length: int) -> int:
    """Drop the resident pages wholly inside [address, address + length) when they are `clean`; the bytes given
    back. The caller keeps the span mapped until this returns (a view of it alive): a mapping unmapped since
    could hold other memory at the same address now."""
    if not clean(address, length):
        return 0
    start, end = _interior(address, length)
    # A refusal leaves the pages resident, as they were before this existed: memory, never a value, is at stake.
    return end - start if _madvise()(start, end - start, MADV_DONTNEED) == 0 else 0


def _pagemap(start: int, end: int) -> np.ndarray | None:
    """The pagemap entries of the pages in [start, end) (page-aligned), or None where they cannot be read."""
    page = mmap.PAGESIZE
    wanted = (end - start) // page * 8
    try:
        with PAGEMAP.open("rb", buffering=0) as handle:
            handle.seek(start // page * 8)
            raw = bytearray()
            while len(raw) < wanted:
                chunk = handle.read(wanted - len(raw))
                if not chunk:
                    return None
                raw += chunk
    except OSError:
        return None
    return np.frombuffer(bytes(raw), dtype="<u8")


@functools.cache
def _madvise() -> Any:
    madvise = ctypes.CDLL(None).madvise
    madvise.argtypes, madvise.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
    return madvise


def _interior(address: int, length: int) -> tuple[int, int]:
    """The whole pages inside [address, address + length): a page shared with a neighbour stays."""
    page = mmap.PAGESIZE
    return -(-address // page) * page, (address + length) // page * page
