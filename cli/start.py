"""The console entry point (`invarlock`, `python -m invarlock`): it imports the CLI, then runs it.

Importing the CLI (click, msgspec, the domain's errors) takes a noticeable fraction of a second; Ctrl-C in that
time ended the process with the import's traceback and a death by SIGINT. Only the standard library is imported
here, so that Ctrl-C ends the command as it does at any later point: one line, exit 130.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any

INTERRUPTED_HINT = "run the command again (a certification resumes: certify --resume RUN_ID)"
EXIT_INTERRUPTED = 130
_AGAIN_AFTER_S = 0.05  # a Ctrl-C a finalizer swallowed is raised again this much later


def interrupted_line() -> str:
    """The one line Ctrl-C ends every command with."""
    return f"ERROR [INVARLOCK:E000] interrupted — {INTERRUPTED_HINT}"


def _interrupted() -> None:
    sys.stderr.write(interrupted_line() + "\n")
    if "--json" in sys.argv[1:]:
        error = {"code": "E000", "message": "interrupted", "hint": INTERRUPTED_HINT}
        envelope = {"format_version": "error-v1", "ok": False, "exit_code": EXIT_INTERRUPTED, "error": error}
        sys.stdout.write(json.dumps(envelope) + "\n")
    sys.exit(EXIT_INTERRUPTED)


def _exit_status_stays_130() -> None:
    """CPython ends a process by SIGINT (a parent sees -2, not 130) when Ctrl-C escaped code a library ran with
    PyRun_String, even though the CLI then handled it; running an empty string clears that record."""
    import ctypes

    if sys.implementation.name == "cpython":
        ctypes.pythonapi.PyRun_SimpleString(b"")


def keep_interrupts() -> None:
    """Ctrl-C that lands while a finalizer runs (a `__del__`, e.g. of a regex object freed while a tokenizer loads)
    raises its KeyboardInterrupt there, where Python only prints "Exception ignored" and goes on: the command then
    ran to its end (the resume hunt). Such an interrupt is raised again, and Python handles it at its next
    instruction outside the finalizer, as a Ctrl-C anywhere else."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            # Raised here (or by a thread that starts at once), the signal would be handled within this hook, and
            # ignored again: a timer raises it once the hook has returned.
            timer = threading.Timer(_AGAIN_AFTER_S, signal.raise_signal, args=(signal.SIGINT,))
            timer.daemon = True
            timer.start()
            return
        previous(unraisable)

    sys.unraisablehook = hook


def main() -> None:
    """Import and run the CLI (cli/main.py); Ctrl-C while importing it is E000 interrupted, exit 130."""
    keep_interrupts()
    try:
        from .main import main as run_cli
    except KeyboardInterrupt:
        _interrupted()
    try:
        run_cli()
    except SystemExit as done:
        if done.code == EXIT_INTERRUPTED:
            _exit_status_stays_130()
        raise
