"""What every benchmark prints at its end: one JSON line (`--json`), else one aligned `key: value` line per
figure; and the machine line each result carries."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn


def machine() -> str:
    """The processor (or architecture) and the CPU count, e.g. `x86_64, 2 cpus`."""
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus"


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo (e.g. `AMD EPYC`), else what platform knows."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


def emit(result: dict[str, Any], as_json: bool) -> None:
    """`result` as one JSON line, or as `key: value` lines with the keys right-aligned."""
    if as_json:
        print(json.dumps(result))
        return
    width = max((len(key) for key in result), default=0)
    for key, value in result.items():
        print(f"{key:>{width}}: {value}")


def run_main(main: Callable[[], int | None]) -> NoReturn:
    """Run a benchmark's `main` and exit with its code; an InvarLock error (a config it cannot take) is its one line
    and its exit code, as the CLI prints it, not a traceback."""
    from invarlock.domain.errors import InvarlockError

    try:
        code = main()
    except InvarlockError as exc:
        print(exc.one_line(), file=sys.stderr)
        sys.exit(exc.exit_code)
    sys.exit(code or 0)
