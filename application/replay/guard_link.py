"""verify --events: the link of a run whose weight guards read the baseline's measurements from an earlier run
(guard_baseline_reused). The source stream is intact, each referenced event still has its hash and is a
spectral or RMT guard record, both runs have the recorded guard key, and every baseline number this run's
guard records state is the one the source recorded."""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import events as ev
from invarlock.domain.guard_reuse import baseline_measures, guard_key, key_version_of
from invarlock.domain.guards.results import RmtResult, SpectralResult
from invarlock.domain.run import RunState
from invarlock.ports.store import EventStore

from ..signing import SignatureFinding
from .source_link import UNINDEXED, AppendedSources, decoded, hash_problem, replayed, stream_problem

Finding = tuple[str, SignatureFinding]


def guard_findings(store: EventStore, state: RunState, appended: AppendedSources = UNINDEXED) -> list[Finding]:
    """The `guard_baseline_source` check of a run that reused guard measurements; [] for a run without."""
    link = state.guard_source
    if link is None:
        return []
    where = f"the baseline guard measurements come from run {link.source_run_id}"
    problem = _problem(store.read(link.source_run_id), link, state, where) or appended.problem(
        link.source_run_id, where
    )
    detail = problem or f"baseline guard measurements match run {link.source_run_id}'s chain-valid records"
    return [("guard_baseline_source", SignatureFinding(problem is None, detail, True))]


def _problem(
    source: Sequence[ev.RecordedEvent], link: ev.GuardBaselineReused, state: RunState, where: str
) -> str | None:
    problem = stream_problem(source, where)
    if problem is not None:
        return problem
    named: list[ev.GuardEvaluated] = []
    for ref in link.source_events:
        if (stale := hash_problem(source, ref)) is not None:
            return f"{where}: {stale}"
        event = decoded(source[ref.seq])
        if not (isinstance(event, ev.GuardEvaluated) and isinstance(event.result, SpectralResult | RmtResult)):
            return f"{where}: its event seq {ref.seq} is not a spectral or RMT guard record"
        named.append(event)
    return _numbers_problem(source, named, link, state, where)


def _numbers_problem(
    source: Sequence[ev.RecordedEvent],
    named: list[ev.GuardEvaluated],
    link: ev.GuardBaselineReused,
    state: RunState,
    where: str,
) -> str | None:
    source_state, problem = replayed(source, where)
    if source_state is None:
        return problem
    version = key_version_of(link.guard_key, state)
    if version is None or guard_key(source_state, version) != link.guard_key:
        return f"{where}, but the two runs' guard keys differ (baseline, guard settings or environment)"
    theirs, mine = baseline_measures(named), baseline_measures(state.guards)
    differ = sorted(name for name in mine if name in theirs and mine[name] != theirs[name])
    if differ:
        return f"{where}, but this run states other baseline numbers for {differ[0]}"
    return None
