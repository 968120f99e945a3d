"""The CLI's start-up: `python -m invarlock ARGS` in a subprocess, start to exit, median of `--repeat`.

Each `--python` interpreter (e.g. the venv of an older checkout and this one) runs every case in alternation, so
the machine's load falls on all of them alike. `--store` adds `runs` over that event store (the 10,000-run store
`benchmarks/runs_scale.py` builds). Numbers: docs/performance.md, "CLI start-up".

Usage:
    python benchmarks/cli_startup.py
    python benchmarks/cli_startup.py --python /old/.venv/bin/python --python .venv/bin/python \
        --store /tmp/invarlock-runs-scale-10000.duckdb
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _cases(store: str | None) -> list[list[str]]:
    cases = [["--version"], ["--help"], ["runs", "--help"]]
    if store:
        cases += [["runs", "--events", store], ["runs", "--events", store, "--limit", "50"]]
    return cases


def _seconds(python: str, args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([python, "-m", "invarlock", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{python} -m invarlock {' '.join(args)} exited {done.returncode}: {done.stderr[-300:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", help="interpreter to time (repeatable; default: this one)")
    parser.add_argument("--store", default=None, help="an event store for the `runs` cases")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    pythons = options.python or [sys.executable]
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(options.repeat):
        for args in _cases(options.store):
            for python in pythons:
                times.setdefault((python, " ".join(args)), []).append(_seconds(python, args))
    for args in _cases(options.store):
        medians = "  ".join(f"{statistics.median(times[(p, ' '.join(args))]):.2f} s" for p in pythons)
        print(f"{' '.join(args):<64} {medians}")


if __name__ == "__main__":
    main()
