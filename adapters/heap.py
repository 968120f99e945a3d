"""The C heap of a process that runs forward passes on CPU: glibc's malloc tuned to keep freed memory.

Why: a forward pass allocates and frees hundreds of MB of activations, a few MB to tens of MB each. By default
glibc serves them from the heap once its dynamic mmap threshold has grown, but gives the top of the heap back to
the kernel whenever more than twice that threshold is free, so the next pass maps it again and faults in every
page zeroed: on the 2-core EPYC, 70–95 k page faults per window pair of lockstep scoring on the demo model,
about 1 µs each. With the thresholds fixed, the freed activations stay mapped and the next pass reuses them:
scoring faults in almost nothing after its first batch (docs/performance.md, section Page faults).
The peak resident memory stays the same (measured): the process holds what it held at its peak, for longer.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX): bigger blocks are mapped
TRIM_THRESHOLD = 2**30  # give the heap's top back only when more than 1 GiB of it is free

_tuned: list[bool] = []


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds once per process (later calls do nothing); whether they are set.
    False under another C library (musl, macOS), where nothing is changed."""
    if not _tuned:
        _tuned.append(_set_thresholds())
    return _tuned[0]


def _set_thresholds() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
