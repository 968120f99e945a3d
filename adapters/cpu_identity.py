"""The CPU as far as it decides the bits of a float computation: its model name and the vector and matrix
instruction sets that torch's and OpenBLAS's kernels are chosen by (the same build picked other kernels on an
Intel Xeon with AMX than on an AMD EPYC, and gave other bits for the same forward pass)."""

from __future__ import annotations

import platform
from pathlib import Path

# Instruction-set flags (as /proc/cpuinfo names them) that select float kernels in torch (oneDNN, MKL, SLEEF)
# and OpenBLAS; the many other flags do not.
KERNEL_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c",
    "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2",
)  # fmt: skip


def cpu_identity(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """'MODEL NAME; flag flag …' from cpuinfo (Linux), else the platform's processor string."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine() or "unknown"
    fields = dict(_field(line) for line in text.splitlines() if ":" in line)
    name = fields.get("model name") or fields.get("cpu model") or platform.processor() or platform.machine()
    present = set((fields.get("flags") or fields.get("features") or "").split())
    return f"{name}; {' '.join(f for f in KERNEL_FLAGS if f in present)}".rstrip("; ").strip()


def _field(line: str) -> tuple[str, str]:
    key, _, value = line.partition(":")
    return key.strip().lower(), value.strip()
