"""The logit-row kernel gives the same bits on every x86-64 instruction-set level: its source is compiled here once
per level this CPU can run (baseline SSE2, v2, v3 with AVX2 and FMA, v4 with AVX-512), without the function
clones the install builds, and each build must equal the numpy reference. A build that let the compiler fuse
multiply-adds or reassociate sums would fail here on the v3/v4 levels."""

from __future__ import annotations

import importlib.util
import platform
import shutil
import subprocess
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from invarlock.adapters import logit_rows

SOURCE = Path(__file__).resolve().parents[2] / "adapters" / "_logit_rows.c"
# level -> the /proc/cpuinfo flags it needs (a build for a level the CPU lacks would stop on SIGILL)
LEVELS = {
    "x86-64": (),
    "x86-64-v2": ("sse4_2", "popcnt"),
    "x86-64-v3": ("avx2", "fma", "bmi2"),
    "x86-64-v4": ("avx512f", "avx512bw", "avx512dq", "avx512vl"),
}


def _cpu_flags() -> set[str]:
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return set()
    for line in info.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _gcc() -> str | None:
    if platform.machine() != "x86_64" or not Path(sysconfig.get_paths()["include"], "Python.h").is_file():
        return None
    return shutil.which("gcc")


@pytest.mark.parametrize(
    ("level", "defines"),
    [
        *((level, ()) for level in LEVELS),
        ("x86-64", ("-DLOGIT_ROWS_TABLE_LOOP",)),
        ("x86-64-v4", ("-DLOGIT_ROWS_TABLE_LOOP",)),
    ],
)
def test_each_instruction_set_level_gives_the_references_bits(
    level: str, defines: tuple[str, ...], tmp_path: Path
) -> None:
    """Also with the exp table read by the loop that compilers without __builtin_shuffle (clang) build."""
    gcc = _gcc()
    if gcc is None:
        pytest.skip("needs gcc, the Python headers and an x86-64 CPU")
    if not set(LEVELS[level]) <= _cpu_flags():
        pytest.skip(f"this CPU cannot run {level} code")
    source = tmp_path / "_logit_rows.c"
    clones = "#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)"
    assert clones in SOURCE.read_text()
    source.write_text(SOURCE.read_text().replace(clones, "#if 0", 1))
    target = tmp_path / f"_logit_rows{sysconfig.get_config_var('EXT_SUFFIX')}"
    include = sysconfig.get_paths()["include"]
    flags = [*defines, "-O3", "-ffp-contract=off", f"-march={level}", "-Wno-psabi", "-shared", "-fPIC", f"-I{include}"]
    subprocess.run([gcc, *flags, str(source), "-o", str(target)], check=True, capture_output=True)
    spec = importlib.util.spec_from_file_location("_logit_rows", target)
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)

    rng = np.random.default_rng(17)
    base = (rng.standard_normal((9, 4101)) * 5).astype(np.float32)
    subj = (base + rng.standard_normal((9, 4101)) * 0.05).astype(np.float32)
    base[2, 7] = base[2].max()  # a tie at the top: that row's top-5 is left to the caller (-1s)
    out, with_top, top = np.empty((9, 5)), np.empty((9, 5)), np.empty((9, 2, 5), dtype=np.int64)
    build.pair_stats(base, subj, 9, 4101, out)
    build.pair_stats_top(base, subj, 9, 4101, with_top, top)
    kernel, logit_rows._compiled = logit_rows._compiled, None
    try:
        assert np.array_equal(out, logit_rows.pair_stats(base, subj))
        stats, expected = logit_rows.pair_stats_top(base, subj)
        assert np.array_equal(with_top, stats) and np.array_equal(top, expected)
        assert (top[2, 0] == -1).all() and (top[:, 1] >= 0).all()
    finally:
        logit_rows._compiled = kernel
