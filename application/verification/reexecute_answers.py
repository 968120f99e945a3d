"""What the re-execution audit keeps of a baseline it released before the subject loaded (reexecute_baseline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from invarlock.domain.errors import InvarlockError
from invarlock.domain.guards.spectrum import MatrixMeasure
from invarlock.domain.model import ActivationStats, TensorCensus, WindowScore
from invarlock.ports.kept_reference import KeptReference

from ..certification.recorded_baseline import MatrixSummary

T = TypeVar("T")


@dataclass
class AuditedBaseline:
    """The baseline's answers to the audit's steps, measured before it was released: its census and unmapped
    weights, every matrix's summary and the measurement of those the weight guards' samples name, its statistics
    of the sampled variance taps, and its scores of each arm's sampled windows (none when the evidence has KL and
    top-1: its side of those windows is kept instead, `reference`, and its scores come with the subject's). An
    answer the pass did not reach is None, and reading it raises the error that stopped the pass (`error`): the
    audit stops at the step that would have met it with the baseline held."""

    census: TensorCensus | None = None
    unmapped: dict[str, str] | None = None
    matrices: list[MatrixSummary] | None = None
    measures: dict[str, MatrixMeasure] = field(default_factory=dict)
    taps: dict[str, ActivationStats] | None = None
    scores: dict[str, dict[int, WindowScore]] = field(default_factory=dict)
    reference: KeptReference | None = None  # its side of the sampled windows' KL and top-1, when the evidence has them
    error: InvarlockError | None = None

    def read(self, answer: T | None) -> T:
        """`answer`, or the error that kept the pass from measuring it."""
        if answer is None:
            raise self.error or AssertionError("the baseline pass measures what the certificate's steps read")
        return answer
