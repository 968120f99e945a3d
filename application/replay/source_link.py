"""What every reuse link checks of its source run (verify --events): the source stream is in the store and
chain-valid, each referenced event still has its recorded hash, and the source's events replay."""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import events as ev
from invarlock.domain.errors import InvarlockError
from invarlock.domain.run import RunState, replay


def stream_problem(source: Sequence[ev.RecordedEvent], where: str) -> str | None:
    """Why the source stream cannot be trusted (absent, or its chain broken); None when it can."""
    if not source:
        return f"{where}, which is not in the event store"
    chain = ev.chain_problems(list(source))
    if chain:
        return f"{where}, whose event chain is broken: {chain[0]}"
    return None


def hash_problem(source: Sequence[ev.RecordedEvent], ref: ev.EventRef) -> str | None:
    """Why `ref` no longer names its event (out of range or another hash); None when it does."""
    if not 0 <= ref.seq < len(source) or source[ref.seq].hash != ref.hash:
        return f"its event seq {ref.seq} no longer has hash {ref.hash[:12]}…"
    return None


def decoded(record: ev.RecordedEvent) -> ev.Event:
    """The event a stored record holds."""
    return ev.decode_event(record.type, record.version, record.payload)


def replayed(source: Sequence[ev.RecordedEvent], where: str) -> tuple[RunState | None, str | None]:
    """The source's state, or why its events do not replay."""
    try:
        return replay(decoded(r) for r in source), None
    except InvarlockError as exc:
        return None, f"{where}, whose events do not replay: {exc.message}"
