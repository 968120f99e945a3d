"""What the re-execution audit is given (the recipient's models and sample, the ports it needs) and what it
returns, and the stream its events go to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from invarlock.domain import events as ev
from invarlock.domain.errors import UsageError
from invarlock.ports.corpus import CorpusResolver
from invarlock.ports.edits import Edit
from invarlock.ports.loader import ModelLoader
from invarlock.ports.measurement import MeasurementPool
from invarlock.ports.store import EventStore

from .reexecute_inputs import Finding


@dataclass(frozen=True)
class ReexecutionRequest:
    """The recipient's models and sample. `subject` None: rebuild the subject from the baseline and the
    certificate's recorded built-in edit. `sample`: windows per scored arm (None: all; every guard row is
    re-measured whatever it is). `sample_seed` picks them. `device`: None loads on the certificate's device
    kind. `exact`: the recipient runs the issuer's build, so every number must agree bit for bit whatever
    environment the certificate states (that statement is the certificate's own and nothing checks it).
    `sequential`: hold one model at a time (reexecute_baseline; a certificate issued so is audited so without it)."""

    baseline: str
    subject: str | None
    sample: int | None
    sample_seed: int
    device: str | None = None
    exact: bool = False
    sequential: bool = False


@dataclass(frozen=True)
class ReexecutionDeps:
    """Ports and clocks the audit needs, passed in by the composition root."""

    loader: ModelLoader
    corpora: CorpusResolver
    environment: Callable[[], dict[str, str]]
    clock: Callable[[], str]
    new_stream_id: Callable[[], str]
    tool_version: str
    store: EventStore | None = None
    edits: Mapping[str, Edit] = field(default_factory=dict)
    measurements: MeasurementPool | None = None  # as certify's Services.measurements


@dataclass
class AuditStream:
    """The audit's events, appended as a stream of its own in one transaction when the audit ends (`close`): an
    audit stopped by Ctrl-C or an unforeseen error leaves nothing, never a stream without its
    reexecution_finished. Nothing is written without a store."""

    store: EventStore | None
    stream_id: str
    events: list[ev.Event] = field(default_factory=list)

    def record(self, event: ev.Event) -> None:
        self.events.append(event)

    def close(self, finished: ev.Event) -> None:
        self.record(finished)
        if self.store is not None:
            self.store.append(self.stream_id, 0, self.events)


@dataclass
class ReexecutionOutcome:
    """Named findings (name, ok, detail), the audit stream id, and what was re-checked; `unrecorded` is the
    error that kept the stream of a finished audit out of the store."""

    findings: list[Finding] = field(default_factory=list)
    stream_id: str | None = None
    windows: int = 0
    matrices: int = 0
    max_rel_diff: float = 0.0
    power: dict[str, float] = field(default_factory=dict)
    unrecorded: UsageError | None = None  # why the store did not take the finished audit's stream

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(ok for _, ok, _ in self.findings)
