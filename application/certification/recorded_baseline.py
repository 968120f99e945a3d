"""What a sequential run keeps of its baseline once the model is released (docs/reference/sequential.md):
every answer of the baseline the rest of the run reads, so that the guard chain and the scoring steps compare
the subject with these and never with the model.

A matrix is kept as its summary (name, family, shape, digest by value) and its guard measurement; the subject
matrix equal to it reuses the measurement, as in a run holding both models."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from invarlock.domain import events as ev
from invarlock.domain.guards.spectrum import MatrixMeasure
from invarlock.domain.model import ActivationStats, TensorCensus
from invarlock.domain.weight_digest import matrix_digest
from invarlock.ports.kept_reference import KeptReference
from invarlock.ports.model import NamedMatrix


@dataclass(frozen=True)
class MatrixSummary:
    """A baseline matrix without its values: what the guards compare a subject matrix with."""

    name: str
    family: str
    block: int | None
    head: bool
    shape: tuple[int, ...]
    digest: str


@dataclass
class RecordedBaseline:
    """The baseline's answers, measured before it was released: its census and unmapped weights, its matrices'
    summaries and measurements (when a weight guard is left to run), its activation statistics on the
    calibration arm (when the variance guard is), and its scores of each arm neither recorded yet nor left to
    a copy of an earlier run's, as the events a run holding both models would record; for a run that measures KL
    and top-1 agreement, what lockstep scoring needs of it (ports.kept_reference.KeptReference)."""

    census: TensorCensus
    unmapped: dict[str, str]
    matrices: list[MatrixSummary] = field(default_factory=list)
    measures: dict[str, MatrixMeasure] = field(default_factory=dict)
    taps: dict[str, ActivationStats] = field(default_factory=dict)
    scores: dict[str, list[ev.WindowsScored]] = field(default_factory=dict)
    guard_link: ev.GuardBaselineReused | None = None  # where reused measurements came from, to record
    reference: KeptReference | None = None  # its side of the paired measures (KL, top-1), when the run takes them


def summary_of(matrix: NamedMatrix) -> MatrixSummary:
    return MatrixSummary(
        name=matrix.name,
        family=matrix.family,
        block=matrix.block,
        head=matrix.head,
        shape=tuple(matrix.array.shape),
        digest=matrix_digest(matrix.array),
    )


def shape_of(matrix: NamedMatrix | MatrixSummary) -> tuple[int, ...]:
    return matrix.shape if isinstance(matrix, MatrixSummary) else tuple(matrix.array.shape)


def same_values(base: NamedMatrix | MatrixSummary, subject: NamedMatrix) -> bool:
    """Whether the subject matrix equals the baseline's value for value (np.array_equal), the baseline held or
    summarised."""
    if isinstance(base, MatrixSummary):
        return base.shape == tuple(subject.array.shape) and base.digest == matrix_digest(subject.array)
    return bool(np.array_equal(base.array, subject.array))
