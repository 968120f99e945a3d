"""The events that say where a run's baseline scores came from when an earlier run had scored that baseline
identically (docs/reference/baseline-reuse.md)."""

from __future__ import annotations

import msgspec

from .event_struct import EventStruct


class EventRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One recorded event of another stream, by its seq and its chain hash."""

    seq: int
    hash: str


class BaselineReused(EventStruct, tag="baseline_reused.v1", frozen=True):
    """The baseline's scores of `arm` were not computed again: the run's stream holds, right after this event
    and in the same append, a copy of each `source_events` event of run `source_run_id` (its baseline
    windows_scored events of `arm`, payload bytes unchanged, in order). `scoring_key` is the digest of what
    the baseline scores depend on (domain/baseline_reuse.py), equal for both runs."""

    arm: str
    source_run_id: str
    scoring_key: str
    source_events: list[EventRef]


class BaselineRescored(EventStruct, tag="baseline_rescored.v1", frozen=True):
    """Run `source_run_id` had scored the baseline of `arm` identically, but this run scores it again:
    `reason` says why (e.g. KL and top-1 agreement need both models' logits together)."""

    arm: str
    source_run_id: str
    reason: str


class GuardBaselineReused(EventStruct, tag="guard_baseline_reused.v1", frozen=True):
    """The weight guards' baseline-side measurements (σ_max, bulk scale, edge, outliers of every baseline
    matrix) were not measured again: they are those recorded by run `source_run_id`'s spectral and RMT
    guard_evaluated events `source_events`. `guard_key` is the digest of what they depend on
    (domain/guard_reuse.py), equal for both runs. The guards still record every number and decide from them."""

    source_run_id: str
    guard_key: str
    source_events: list[EventRef]


class VarianceBaselineReused(EventStruct, tag="variance_baseline_reused.v1", frozen=True):
    """The variance guard's baseline taps (the output statistics of every targeted FFN module on the
    calibration arm) were not measured again: they are those recorded by run `source_run_id`'s variance
    guard_evaluated event `source_events[0]`. They are taken during the baseline's scoring of the calibration
    windows, so `scoring_key` (domain/baseline_reuse.py) is the digest of what they depend on, equal for both
    runs. The guard still records every number and decides from them."""

    source_run_id: str
    scoring_key: str
    source_events: list[EventRef]
