"""verify --events: the link of a run whose baseline scores were copied from an earlier run (baseline_reused).

For each copied arm: the source stream exists and is chain-valid, each referenced event still has the recorded
hash and is a baseline windows_scored event of the arm, the run's copies (the events right after
baseline_reused) carry exactly its type, version and payload bytes and are the run's only baseline scores of the
arm, and both runs have the recorded scoring key.
"""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import events as ev
from invarlock.domain.baseline_reuse import scoring_key
from invarlock.domain.run import RunState
from invarlock.ports.store import EventStore

from ..signing import SignatureFinding
from .source_link import UNINDEXED, AppendedSources, decoded, hash_problem, replayed, stream_problem


def reuse_findings(
    store: EventStore, records: Sequence[ev.RecordedEvent], state: RunState, appended: AppendedSources = UNINDEXED
) -> list[tuple[str, SignatureFinding]]:
    """The `baseline_source` check of a run with copied baseline scores; [] for a run without."""
    links = [(r, e) for r, e in _reused_records(records) if isinstance(e, ev.BaselineReused)]
    if not links:
        return []
    problems = [p for r, e in links if (p := _link_problem(store, records, r.seq, e, state, appended)) is not None]
    arms = ", ".join(f"{e.arm} from run {e.source_run_id}" for _, e in links)
    detail = problems[0] if problems else f"baseline scores copied byte for byte from chain-valid events ({arms})"
    return [("baseline_source", SignatureFinding(not problems, detail, True))]


def _reused_records(records: Sequence[ev.RecordedEvent]) -> list[tuple[ev.RecordedEvent, ev.Event]]:
    return [(r, decoded(r)) for r in records if r.type == "baseline_reused"]


def _link_problem(
    store: EventStore,
    records: Sequence[ev.RecordedEvent],
    seq: int,
    link: ev.BaselineReused,
    state: RunState,
    appended: AppendedSources,
) -> str | None:
    source = store.read(link.source_run_id)
    where = f"the {link.arm} arm's baseline scores come from run {link.source_run_id}"
    problem = stream_problem(source, where)
    if problem is not None:
        return problem
    copies = records[seq + 1 : seq + 1 + len(link.source_events)]
    if len(copies) != len(link.source_events):
        return f"{where}, but the run holds fewer copies than the events it names"
    own = [r.seq for r in records if r not in copies and _baseline_scores_of(r, link.arm)]
    if own:  # a run copies an arm only when it holds none of its baseline scores, and scores none after
        return f"{where}, but the run holds baseline scores of the arm besides the copies (seq {own[0]})"
    for ref, copy in zip(link.source_events, copies, strict=True):
        problem = _copy_problem(source, ref, copy, link.arm)
        if problem is not None:
            return f"{where}: {problem}"
    return _key_problem(source, link, state, where) or appended.problem(link.source_run_id, where)


def _baseline_scores_of(record: ev.RecordedEvent, arm: str) -> bool:
    if record.type != "windows_scored":
        return False
    event = decoded(record)
    return isinstance(event, ev.WindowsScored) and event.role == "baseline" and event.arm == arm


def _copy_problem(source: Sequence[ev.RecordedEvent], ref: ev.EventRef, copy: ev.RecordedEvent, arm: str) -> str | None:
    if (stale := hash_problem(source, ref)) is not None:
        return stale
    original = source[ref.seq]
    if (copy.type, copy.version, copy.payload) != (original.type, original.version, original.payload):
        return f"the copy at seq {copy.seq} differs from its event seq {ref.seq}"
    event = decoded(original)
    if not (isinstance(event, ev.WindowsScored) and event.role == "baseline" and event.arm == arm):
        return f"its event seq {ref.seq} is not a baseline windows_scored event of the {arm} arm"
    return None


def _key_problem(
    source: Sequence[ev.RecordedEvent], link: ev.BaselineReused, state: RunState, where: str
) -> str | None:
    source_state, problem = replayed(source, where)
    if source_state is None:
        return problem
    if not (scoring_key(source_state) == link.scoring_key == scoring_key(state)):
        return f"{where}, but the two runs' scoring keys differ (models, windows, loading or environment)"
    return None
