"""The events of a re-execution audit stream: a recipient re-checking a certificate against the models."""

from __future__ import annotations

from .event_struct import EventStruct
from .model import WindowComparison


class ReexecutionStarted(EventStruct, tag="reexecution_started.v2", frozen=True):
    """A recipient's re-execution audit of a certificate began. Audits are streams of their own, never part
    of the audited run's stream; `certificate_run_id` and `certificate_digest` name what was audited.
    `sample` is the number of windows re-scored per scored arm (None: all); `exact` says whether numbers
    must agree bit for bit (same device, dtype and build) or within `rel_tol`, and `build_differences`
    lists what differs from the issuer's build. `sequential`: the audit held one model at a time (the
    baseline's pass, then the subject) rather than both; None for an audit of v1, which did not record it."""

    certificate_run_id: str
    certificate_digest: str
    baseline_ref: str
    subject_ref: str
    sample: int | None
    sample_seed: int
    started_at: str
    tool_version: str
    environment: dict[str, str]
    exact: bool
    rel_tol: float
    build_differences: list[str]
    sequential: bool | None


class WindowRechecked(EventStruct, tag="window_rechecked.v1", frozen=True):
    """One window re-scored by both models: the certificate's NLL sums next to the recomputed ones."""

    arm: str
    window_id: int
    digest: str
    tokens_scored: int
    baseline_nll: float
    baseline_nll_recomputed: float
    subject_nll: float
    subject_nll_recomputed: float
    max_rel_diff: float
    ok: bool


class ComparisonRechecked(EventStruct, tag="comparison_rechecked.v1", frozen=True):
    """One window's paired measures re-measured by both models in lockstep: the certificate's comparison
    (KL, top-1/top-5, cosine, label and predictions) next to the recomputed one (None: the runner gave
    none). `mismatches` names each measure that differs; `max_rel_diff` is over the float measures."""

    arm: str
    window_id: int
    digest: str
    stated: WindowComparison
    recomputed: WindowComparison | None
    max_rel_diff: float
    ok: bool
    mismatches: list[str]


class MatrixRechecked(EventStruct, tag="matrix_rechecked.v1", frozen=True):
    """One weight matrix re-measured for a guard; `mismatch` is the first differing field (None: agrees)."""

    guard: str
    name: str
    max_rel_diff: float
    ok: bool
    mismatch: str | None = None


class ReexecutionFinished(EventStruct, tag="reexecution_finished.v1", frozen=True):
    """The audit's outcome: `ok` only when every check ran and agreed; `failures` names each mismatch.
    `detection_power` maps an altered fraction f ("0.01") to 1 − (1 − f)^K for the smallest arm sample K."""

    finished_at: str
    ok: bool
    failures: list[str]
    windows_rechecked: int
    matrices_rechecked: int
    max_rel_diff: float
    detection_power: dict[str, float]
