"""An event store that stops a run like a Ctrl-C: it appends as the store it wraps, then raises KeyboardInterrupt
after (or instead of) the first append whose events `kills` picks, noting the run id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from invarlock.domain import events as ev


class KillingStore:
    def __init__(self, store: Any, kills: Callable[[list[ev.Event]], bool], *, before: bool = False) -> None:
        self._store, self._kills, self._before = store, kills, before
        self.killed: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def append(self, run_id: str, expected_seq: int, events: list[ev.Event]) -> list[ev.RecordedEvent]:
        if self._before and self._kills(events):
            self.killed.append(run_id)
            raise KeyboardInterrupt
        rows: list[ev.RecordedEvent] = self._store.append(run_id, expected_seq, events)
        if self._kills(events):
            self.killed.append(run_id)
            raise KeyboardInterrupt
        return rows
