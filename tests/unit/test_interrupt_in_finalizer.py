"""Ctrl-C that lands while a finalizer runs is not lost (the resume hunt: a SIGINT during model loading raised its
KeyboardInterrupt in a regex object's __del__, Python printed "Exception ignored" and the run went on to PASS)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from invarlock.cli.start import keep_interrupts
    if sys.argv[1] == "kept":
        keep_interrupts()

    class Finalized:
        def __init__(self, exc):
            self.exc = exc

        def __del__(self):
            raise self.exc

    Finalized(ValueError("an ordinary finalizer error"))  # still reported as Python reports it
    try:
        Finalized(KeyboardInterrupt())
        for _ in range(2000):
            time.sleep(0.001)
        print("went on")
    except KeyboardInterrupt:
        print("interrupted")
    """
)


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60)


def test_a_ctrl_c_a_finalizer_swallowed_is_raised_again() -> None:
    done = _run("kept")
    assert done.stdout.strip() == "interrupted", done
    assert "ValueError: an ordinary finalizer error" in done.stderr


def test_without_it_python_goes_on() -> None:
    """What the CLI met before keep_interrupts: the check above would pass for no reason if this did not hold."""
    assert _run("plain").stdout.strip() == "went on"
