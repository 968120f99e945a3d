"""verify --events: the link of a run whose variance guard read the baseline's tap statistics from an earlier
run (variance_baseline_reused). The source stream is intact, the referenced event still has its hash and is a
variance guard record, both runs have the recorded scoring key, and every baseline statistic this run's
variance record states is the one the source recorded for that weight on the same calibration windows."""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import events as ev
from invarlock.domain.baseline_reuse import scoring_key
from invarlock.domain.guards.results import VarianceResult
from invarlock.domain.run import RunState
from invarlock.domain.variance_reuse import baseline_taps, variance_record
from invarlock.ports.store import EventStore

from ..signing import SignatureFinding
from .source_link import UNINDEXED, AppendedSources, decoded, hash_problem, replayed, stream_problem

Finding = tuple[str, SignatureFinding]


def variance_findings(store: EventStore, state: RunState, appended: AppendedSources = UNINDEXED) -> list[Finding]:
    """The `variance_baseline_source` check of a run that reused the variance taps; [] for a run without."""
    link = state.variance_source
    if link is None:
        return []
    where = f"the baseline variance taps come from run {link.source_run_id}"
    problem = _problem(store.read(link.source_run_id), link, state, where) or appended.problem(
        link.source_run_id, where
    )
    detail = problem or f"baseline variance taps match run {link.source_run_id}'s chain-valid record"
    return [("variance_baseline_source", SignatureFinding(problem is None, detail, True))]


def _problem(
    source: Sequence[ev.RecordedEvent], link: ev.VarianceBaselineReused, state: RunState, where: str
) -> str | None:
    problem = stream_problem(source, where)
    if problem is not None:
        return problem
    if len(link.source_events) != 1:
        return f"{where}, but the link names {len(link.source_events)} events, not its one variance record"
    ref = link.source_events[0]
    if (stale := hash_problem(source, ref)) is not None:
        return f"{where}: {stale}"
    named = decoded(source[ref.seq])
    if not (isinstance(named, ev.GuardEvaluated) and isinstance(named.result, VarianceResult)):
        return f"{where}: its event seq {ref.seq} is not a variance guard record"
    return _numbers_problem(source, named.result, link, state, where)


def _numbers_problem(
    source: Sequence[ev.RecordedEvent],
    theirs: VarianceResult,
    link: ev.VarianceBaselineReused,
    state: RunState,
    where: str,
) -> str | None:
    source_state, problem = replayed(source, where)
    if source_state is None:
        return problem
    if not (scoring_key(source_state) == link.scoring_key == scoring_key(state)):
        return f"{where}, but the two runs' scoring keys differ (baseline, windows, batching or environment)"
    mine = variance_record(state.guards)
    if mine is None:
        return f"{where}, but this run has no variance record"
    copied = baseline_taps(theirs, mine.measurements.calibration)
    if not copied:
        return f"{where}, but the source tapped other calibration windows"
    differ = [t.weight for t in mine.measurements.taps if copied.get(t.weight) != t.baseline]
    if differ:
        return f"{where}, but this run states other baseline statistics for {differ[0]}"
    return None
