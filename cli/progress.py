"""Progress on stderr: a one-line bar (windows/s and ETA) on a TTY; one line per step with --verbose."""

from __future__ import annotations

import sys
import time

from invarlock.ports.ui import Progress, SilentProgress


class TerminalProgress:
    """Redraws `label  k/n  windows/s  ETA` in place."""

    def __init__(self) -> None:
        self.label, self.total, self.done, self.t0 = "", 0, 0, 0.0

    def start(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self.t0 = label, total, 0, time.perf_counter()
        self._draw()

    def advance(self, done: int) -> None:
        self.done += done
        self._draw()

    def finish(self) -> None:
        if self.total:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _draw(self) -> None:
        if not self.total:
            return
        elapsed = time.perf_counter() - self.t0
        rate = self.done / elapsed if elapsed > 0 and self.done else 0.0
        eta = (self.total - self.done) / rate if rate else float("nan")
        width = 24
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "." * (width - filled)
        eta_text = f"{eta:5.0f}s" if rate else "    ?"
        sys.stderr.write(f"\r{self.label:<20} [{bar}] {self.done}/{self.total}  {rate:5.2f} win/s  ETA {eta_text}")
        sys.stderr.flush()


class StepLog:
    """`--verbose`: one line when a step starts and one when it ends, for logs that are not a terminal."""

    def __init__(self) -> None:
        self.label, self.total, self.done, self.t0 = "", 0, 0, 0.0

    def start(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self.t0 = label, total, 0, time.perf_counter()
        sys.stderr.write(f"{label}: {total} windows\n")

    def advance(self, done: int) -> None:
        self.done += done

    def finish(self) -> None:
        sys.stderr.write(f"{self.label}: {self.done}/{self.total} done in {time.perf_counter() - self.t0:.1f} s\n")
        sys.stderr.flush()


def make_progress(quiet: bool, verbose: bool = False) -> Progress:
    if verbose:
        return StepLog()
    return TerminalProgress() if sys.stderr.isatty() and not quiet else SilentProgress()
