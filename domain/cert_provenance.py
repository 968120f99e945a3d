"""The certificate's provenance: the command, environment, event log and where reused measurements came from.
Re-exported by domain/certificate.py."""

from __future__ import annotations

from typing import Any

from .cert_sections import _S
from .events_reuse import EventRef


class EventLogRef(_S, frozen=True):
    run_id: str
    head_hash: str
    event_count: int


class BaselineScoring(_S, frozen=True, omit_defaults=True):
    """Where one arm's baseline scores came from, when an earlier run in the event store had scored the same
    baseline on the same windows with the same scoring key (docs/reference/baseline-reuse.md).

    `reused`: the scores are copies of run `source_run_id`'s `source_events` (seq and chain hash), checked by
    verify --events; `scoring_key` is the digest both runs share. Otherwise the baseline was scored again and
    `reason` says why. An arm absent from the list was scored fresh with no earlier scoring to reuse.
    """

    arm: str
    source_run_id: str
    reused: bool
    scoring_key: str | None = None
    source_events: list[EventRef] | None = None
    reason: str | None = None


class GuardBaseline(_S, frozen=True):
    """The weight guards' baseline-side measurements were read from run `source_run_id`'s spectral and RMT
    records `source_events` (same `guard_key`), not measured again; verify --events checks the link."""

    source_run_id: str
    guard_key: str
    source_events: list[EventRef]


class VarianceBaseline(_S, frozen=True):
    """The variance guard's baseline taps were read from run `source_run_id`'s variance record
    `source_events` (same `scoring_key`), not measured again; verify --events checks the link."""

    source_run_id: str
    scoring_key: str
    source_events: list[EventRef]


class Provenance(_S, frozen=True, omit_defaults=True):
    """How the run came about. `baseline_scoring` is set only when an earlier scoring of the baseline was
    found (certificates without it encode as before it existed)."""

    command: str
    started_at: str
    seeds: dict[str, int]
    environment: dict[str, str]
    config: dict[str, Any]
    event_log: EventLogRef
    baseline_scoring: list[BaselineScoring] | None = None
    guard_baseline: GuardBaseline | None = None
    variance_baseline: VarianceBaseline | None = None
