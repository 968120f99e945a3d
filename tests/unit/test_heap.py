"""adapters.heap: with glibc's thresholds fixed, a process that allocates and frees the same activations again
and again (a forward pass per batch) reuses the freed memory instead of faulting in fresh zeroed pages."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"
)

# ten 12 MB blocks alive at once, then all freed, five times: the faults of the last four rounds
_PASSES = """
import json, resource, sys
import numpy as np
from invarlock.adapters import heap
tuned = heap.keep_freed_memory() if sys.argv[1] == "tuned" else None
def one_pass():
    blocks = [np.empty(12 * 2**20 // 8) for _ in range(10)]
    for block in blocks:
        block.fill(1.0)
one_pass()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    one_pass()
print(json.dumps({"tuned": tuned, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _passes(mode: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _PASSES, mode], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_freed_activations_are_reused_instead_of_faulted_in_again() -> None:
    default, tuned = _passes("default"), _passes("tuned")
    pages = 4 * 10 * 12 * 2**20 // 4096
    assert default["faults"] >= pages // 10, default  # glibc's defaults map part of the blocks afresh each pass
    assert tuned["tuned"] is True
    assert tuned["faults"] < pages // 50, tuned


def test_the_thresholds_are_set_once_per_process() -> None:
    from invarlock.adapters import heap

    assert heap.keep_freed_memory() is True
    assert heap.keep_freed_memory() is True
    assert heap._tuned == [True]
