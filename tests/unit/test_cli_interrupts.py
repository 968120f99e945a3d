"""Ctrl-C at any point of a command ends it with one line, `E000 interrupted`, and exit 130 (cli/start.py,
cli/main.py), also where it strikes before the CLI is imported or inside a library that re-raises it as another
error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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


# Ctrl-C escaping code a library runs with PyRun_String, during the import of the command's module (a
# sitecustomize, for `python -m invarlock` itself: a `-c` script's SystemExit ends the process before CPython looks).
CTRL_C_IN_PYRUN_STRING = """
    import ctypes, sys

    class CtrlC:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "invarlock.cli.commands_audit":
                run = ctypes.pythonapi.PyRun_String
                run.restype, run.argtypes = ctypes.py_object, [ctypes.c_char_p, ctypes.c_int] + [ctypes.py_object] * 2
                run(b"raise KeyboardInterrupt", 257, {}, {})  # 257: Py_file_input

    sys.meta_path.insert(0, CtrlC)
"""


def test_ctrl_c_that_escaped_a_pyrun_string_still_exits_130(tmp_path: Path) -> None:
    """CPython remembered it as unhandled and ended `python -m invarlock` by SIGINT (-2) after the CLI printed its
    line and asked for 130."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(CTRL_C_IN_PYRUN_STRING), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "invarlock", "runs"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert done.returncode == 130, done.stderr
    assert [line[:30] for line in done.stderr.splitlines()] == ["ERROR [INVARLOCK:E000] interru"]
