"""The processes a CLI run's local Ray starts, watched from outside the driver: every descendant seen while it
runs (a SIGKILLed driver's children are re-parented, so they cannot be found from it afterwards). Leftovers are
stopped by pid, never by name: other Ray sessions may share the host."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

# A local Ray's per-node agents outlive a SIGKILLed driver by minutes (Ray 2.60: they notice the raylet's death
# at once, then block reporting it to the dead GCS); everything else of the session exits within seconds.
AGENTS = frozenset({"ray::DashboardAgent", "ray::RuntimeEnvAgent"})


@dataclass
class Watched:
    """A driver subprocess, every descendant process seen so far, and every name they had (a Ray worker is
    `ray::IDLE` until an actor is placed in it)."""

    process: subprocess.Popen[bytes]
    seen: dict[int, psutil.Process] = field(default_factory=dict)
    titles: set[str] = field(default_factory=set)

    def poll(self) -> None:
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for child in children:
            self.seen.setdefault(child.pid, child)
            self.titles.add(_name(child))

    def wait_until(self, ready: Callable[[], bool], timeout_s: float) -> None:
        """Poll the descendants until `ready()`; AssertionError when the driver ends first or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll()
            assert self.process.poll() is None, "the driver ended before it could be killed"
            if ready():
                return
            time.sleep(0.1)
        raise AssertionError(f"not ready within {timeout_s} s")

    def wait_exit(self, timeout_s: float) -> int:
        """The driver's exit code, polling its descendants until it exits."""
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None and time.monotonic() < deadline:
            self.poll()
            time.sleep(0.2)
        return self.process.wait(timeout=max(deadline - time.monotonic(), 1))

    def stop_leftovers(self, grace_s: float, lingering: frozenset[str] = frozenset()) -> set[str]:
        """Wait up to `grace_s` for every descendant but the `lingering` names to exit, then kill whatever is
        still alive (by pid). Returns the names alive after the grace other than `lingering` (none: clean)."""
        deadline = time.monotonic() + grace_s
        while any(_name(p) not in lingering for p in self._alive()) and time.monotonic() < deadline:
            time.sleep(0.2)
        alive = self._alive()
        names = {_name(p) for p in alive}
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=10)
        return names - lingering

    def stop(self) -> None:
        """Kill the driver, if it still runs, and every descendant seen that is still alive (by pid)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()
        self.stop_leftovers(grace_s=0)

    def _alive(self) -> list[psutil.Process]:
        # is_running() compares creation times too: a reused pid is not taken for one of ours.
        alive = []
        for proc in self.seen.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        return alive


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return "?"
