"""What every reuse link checks of its source run (verify --events): the source stream is in the store and
chain-valid, each referenced event still has its recorded hash, the source passes replay's check, its own links to
its sources hold and, given the store's run index, it is the stream appended under that run."""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import events as ev
from invarlock.domain.errors import InvarlockError
from invarlock.domain.run import RunState
from invarlock.ports.store import EventStore, RunIndex


def stream_problem(source: Sequence[ev.RecordedEvent], where: str) -> str | None:
    """Why the source stream cannot be trusted (absent, or its chain broken); None when it can."""
    if not source:
        return f"{where}, which is not in the event store"
    chain = ev.chain_problems(list(source))
    if chain:
        return f"{where}, whose event chain is broken: {chain[0]}"
    return None


class AppendedSources:
    """What each source stream must also be, beyond its own chain: given the store's run index, the one appended
    under its id (not rewritten and re-linked, cut, or its index entry altered: listing.run_entry_problem), as
    `runs` tells it; given the store, a run whose own links to its sources hold (a run whose copies no longer match
    its source would lend them on: trust is not passed along a chain of copies). Each source asked once per check,
    however many links (arms, guards, taps) name it. Without an index or a store, that part is not asked."""

    def __init__(self, index: RunIndex | None = None, store: EventStore | None = None) -> None:
        self._index = index
        self._store = store
        self._problems: dict[str, str | None] = {}

    def problem(self, run_id: str, where: str) -> str | None:
        """Why the stream of `run_id` is not the one appended or its own links fail, as a link's `where` says it;
        None when neither (the index not knowing the run: a store written before the index)."""
        if run_id not in self._problems:
            self._problems[run_id] = self._appended_problem(run_id) or self._links_problem(run_id)
        problem = self._problems[run_id]
        return None if problem is None else f"{where}, {problem}"

    def _appended_problem(self, run_id: str) -> str | None:
        if self._index is None:
            return None
        from .listing import indexed_stream_problem  # listing imports replay, which imports the links

        problem = indexed_stream_problem(self._index, run_id)
        return None if problem is None else f"whose stream is not the one appended: {problem}"

    def _links_problem(self, run_id: str) -> str | None:
        """Why a link of `run_id`, or of a run it copied from in turn and so on back to the originals, fails its
        check; None when all hold. Walked as a list, each run once: runs of this release copy only originals, but a
        store of earlier releases holds chains as long as its runs of one baseline (a recursion stopped at ~130)."""
        if self._store is None:
            return None
        from .replay import check_run, link_problem, source_runs  # replay imports the links that import this module

        pending, seen = [run_id], set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            try:
                checked = check_run(list(self._store.read(current)))
            except InvarlockError as exc:
                problem: str | None = f"fails replay's check: {exc.message}"
            else:
                problem = link_problem(self._store, checked, self._index, deep=False)
                pending.extend(source_runs(checked.state))
            if problem is not None:
                return _traced(run_id, current, problem)
        return None


def _traced(run_id: str, failing: str, problem: str) -> str:
    if failing == run_id:
        return f"whose own source fails its check: {problem}"
    return f"which copied from run {failing} in turn, and that run's source fails its check: {problem}"


UNINDEXED = AppendedSources()  # no run index given: each source is checked on its own stream only


def hash_problem(source: Sequence[ev.RecordedEvent], ref: ev.EventRef) -> str | None:
    """Why `ref` no longer names its event (out of range or another hash); None when it does."""
    if not 0 <= ref.seq < len(source) or source[ref.seq].hash != ref.hash:
        return f"its event seq {ref.seq} no longer has hash {ref.hash[:12]}…"
    return None


def decoded(record: ev.RecordedEvent) -> ev.Event:
    """The event a stored record holds."""
    return ev.decode_event(record.type, record.version, record.payload)


def replayed(source: Sequence[ev.RecordedEvent], where: str) -> tuple[RunState | None, str | None]:
    """The source's state, or why it fails replay's check (events that do not decode or fold, or that do not
    rebuild the certificate the source issued: a source rewritten and re-linked would lend its forged scores)."""
    from .replay import check_run  # replay imports the links that import this module

    try:
        checked = check_run(list(source))
    except InvarlockError as exc:
        return None, f"{where}, which fails replay's check: {exc.message}"
    if not checked.finished:  # no certificate its numbers were checked against: nothing a run may copy
        return None, f"{where}, which never finished (its stream holds no certificate and no run_completed)"
    return checked.state, None
