"""The resident size of one mapping of this process, read from /proc/self/smaps (Linux only)."""

from __future__ import annotations

from pathlib import Path


def resident_kib(address: int) -> int:
    """Rss (KiB) of the mapping that holds `address`."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and "-" in fields[0] and not fields[0].endswith(":"):
            low, high = (int(x, 16) for x in fields[0].split("-"))
            inside = low <= address < high
        elif inside and fields[0] == "Rss:":
            return int(fields[1])
    raise AssertionError(f"no mapping holds {address:#x}")
