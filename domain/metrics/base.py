"""The `Metric` interface: what build_certificate, gates, verify and the pipeline ask of a primary metric."""

from __future__ import annotations

from typing import Protocol

import msgspec

from .. import certificate as c
from ..policy import Policy


class Assessment(msgspec.Struct, frozen=True, kw_only=True):
    """A metric's two certificate sections, computed from one bootstrap of the gated arm."""

    primary: c.PrimaryMetric
    bootstrap: c.BootstrapSection


class Metric(Protocol):
    """A primary metric: per-window evidence → per-arm statistic → paired statistic with its interval → gate.

    `kind` names it in the config (`eval.metric.kind`) and in the certificate (`primary_metric.kind`);
    `unit`, `direction` (`lower_is_better` | `higher_is_better`) and `gating_basis` (the interval bound the
    gate reads, `upper` | `lower`) are stated in the certificate as given here.
    """

    @property
    def kind(self) -> str: ...

    @property
    def unit(self) -> str: ...

    @property
    def direction(self) -> str: ...

    @property
    def gating_basis(self) -> str: ...

    @property
    def per_model_scores(self) -> bool:
        """Whether the evidence holds each model's NLL sums: what the variance guard's A/B pass and the
        guard-overhead check of a repaired subject rescore (without them, neither can run)."""
        ...

    @property
    def policy_section(self) -> str | None:
        """The optional Policy section (policy.SECTIONS) this kind's gates read, or None (GatePolicy only)."""
        ...

    def arm_statistic(self, arm: c.ArmEvidence) -> c.ArmMetric:
        """The paired statistic of one arm (baseline vs subject on the same windows), no interval.

        Raises:
            UsageError: E403 when the arm's evidence cannot carry a statistic (too few windows, bad values).
        """
        ...

    def assess(self, evidence: c.Evidence, *, seed: int, plan_digest: str, policy: Policy) -> Assessment:
        """Both arms' statistics, the gated arm's bootstrap interval (computed once) and its settings.

        The interval is drawn from the final arm, or from the preview arm when the run rolled back; the
        resampling is keyed by (`seed`, `plan_digest`, arm) so anyone recomputes it bit for bit.
        """
        ...

    def scored_tokens(self, seq_len: int) -> tuple[int, str]:
        """How many tokens a window of `seq_len` tokens contributes to the statistic, and the rule in words."""
        ...

    def identity(self, arm: c.ArmMetric) -> tuple[bool, str]:
        """Whether a stated arm statistic agrees with itself (its fields' defining identities), and which."""
        ...

    def flags(self, pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
        """Every validation flag this metric decides (in verdict order), each with the reason it fails."""
        ...

    def catastrophe(self, preview: c.ArmMetric, policy: Policy) -> str | None:
        """Why the preview arm alone is bad enough to roll back without scoring the final arm, or None."""
        ...

    def overhead(
        self, final: c.ArmEvidence, bare_subject: list[float], repaired: list[str], limit: float
    ) -> c.GuardOverhead:
        """The metric of the repaired subject against the bare subject on the final arm's windows."""
        ...
