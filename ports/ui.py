"""Progress port: how a long step reports advancement (a TTY bar, or nothing)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """A progress sink for one step at a time."""

    def start(self, label: str, total: int) -> None:
        """Begin a step of `total` units (windows)."""
        ...

    def advance(self, done: int) -> None:
        """`done` more units finished."""
        ...

    def finish(self) -> None:
        """The step ended (successfully or not)."""
        ...


class SilentProgress:
    """Reports nothing (non-TTY runs, tests)."""

    def start(self, label: str, total: int) -> None:
        return None

    def advance(self, done: int) -> None:
        return None

    def finish(self) -> None:
        return None
