"""Run the `invarlock` console entry point in-process (for fast CLI tests that need no model)."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

from invarlock.cli.main import main


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `invarlock ARGS`, exactly as the shell entry point ends."""
    out, err, argv = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ["invarlock", *map(str, args)]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            main()
    except SystemExit as done:
        return int(done.code or 0), out.getvalue(), err.getvalue()
    finally:
        sys.argv = argv
    raise AssertionError("main() must always exit")
