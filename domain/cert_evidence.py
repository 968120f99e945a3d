"""The certificate's evidence: per-window rows of the scored arms, and the guard overhead's bare re-scoring.
Re-exported by domain/certificate.py."""

from __future__ import annotations

from .cert_sections import _FIX, _S
from .errors import UsageError
from .model import WindowComparison
from .windows import PlannedWindow


class ArmEvidence(_S, frozen=True, omit_defaults=True):
    """Per-window rows of one arm, in plan order. `baseline_nll`/`subject_nll` are set for the metrics with
    per-model NLL sums (perplexity kinds); `comparisons` when paired measures were recorded (KL/top-1 of a
    causal LM, embedding cosine, accuracy labels and predictions), one per window in the same order."""

    window_ids: list[int]
    window_digests: list[str]
    tokens_scored: list[int]
    baseline_nll: list[float] | None = None
    subject_nll: list[float] | None = None
    comparisons: list[WindowComparison] | None = None

    def nll(self) -> tuple[list[float], list[float]]:
        """The baseline and subject NLL columns (UsageError E601 when this arm has none)."""
        if self.baseline_nll is None or self.subject_nll is None:
            raise UsageError("E601", "schema check failed: an evidence arm lacks baseline_nll/subject_nll", _FIX)
        return self.baseline_nll, self.subject_nll


class Evidence(_S, frozen=True):
    """Per-window rows of the scored arms, and every planned window (scored or not) in plan order."""

    preview: ArmEvidence
    final: ArmEvidence | None
    plan: list[PlannedWindow]


class GuardOverhead(_S, frozen=True):
    """When a guard repaired the subject: the final arm scored again without the repairs (bare), and
    ratio = PPL(guarded) / PPL(bare) on the same windows (docs/assurance/guards.md §5)."""

    repaired_weights: list[str]
    bare_subject_nll: list[float]
    bare_ppl: float
    guarded_ppl: float
    ratio: float
    limit: float
