"""Ctrl-C at any point of a command ends it with one line, `E000 interrupted`, and exit 130 (cli/start.py,
cli/main.py), also where it strikes before the CLI is imported or inside a library that re-raises it as another
error."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from invarlock.cli.main import _failure

# Ctrl-C while the entry point imports `module` (a finder raising it, as the SIGINT handler would there).
CTRL_C_IN_IMPORT = """
    import runpy, sys

    wanted = sys.argv[1]

    class CtrlC:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == wanted:
                raise KeyboardInterrupt

    sys.meta_path.insert(0, CtrlC)
    sys.argv = ["invarlock", *sys.argv[2:]]
    runpy.run_module("invarlock", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("module", ["click", "invarlock.domain.errors", "invarlock.cli.main"])
def test_ctrl_c_while_the_cli_is_imported_is_one_line_and_exit_130(module: str) -> None:
    """It ended in the import's traceback and a death by SIGINT (-2) before the CLI's own handler existed."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CTRL_C_IN_IMPORT), module, "runs", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == ["ERROR [INVARLOCK:E000] interrupted — run the command again "
                                        "(a certification resumes: certify --resume RUN_ID)"]  # fmt: skip
    envelope = json.loads(done.stdout)
    assert (envelope["exit_code"], envelope["error"]["code"]) == (130, "E000")


def test_an_error_raised_from_ctrl_c_is_the_interrupt() -> None:
    """pybind11 re-raises a KeyboardInterrupt in a module's initialisation (scipy's _pava_pybind, pypocketfft)
    as ImportError('initialization failed') from it: that ended the command in E999, exit 1."""
    error = ImportError("initialization failed")
    error.__cause__ = KeyboardInterrupt()
    failure = _failure(error)
    assert (failure.exit_code, failure.code, failure.message) == (130, "E000", "interrupted")


def test_an_error_raised_while_handling_ctrl_c_is_the_interrupt() -> None:
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("cleanup failed") from None
    except RuntimeError as exc:
        assert _failure(exc).code == "E999"  # `from None`: the error stands on its own
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("cleanup failed")  # noqa: B904 (an implicit context, as library code leaves it)
    except RuntimeError as exc:
        assert (_failure(exc).exit_code, _failure(exc).code) == (130, "E000")
