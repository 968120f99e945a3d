"""Matrices a weight guard could not measure: one `not_applicable` row per matrix an adapter cannot map.

An adapter states the 2-D weights it cannot map to a model weight (`WeightSource.unmapped`, recorded in each
model's identity). A matrix unmapped on either side cannot be compared, so every weight guard records it as
not applicable with the side and the reason, and measures the others. The rows are a pure function of the
two identities' `unmapped` maps: certify writes them with it and verify re-derives them with it.
"""

from __future__ import annotations

from collections.abc import Mapping

from .record import Record


class NotApplicable(Record, frozen=True):
    """A matrix the guard did not measure: its name and why (which side could not map it, and the reason)."""

    name: str
    reason: str


def not_applicable(baseline: Mapping[str, str], subject: Mapping[str, str]) -> list[NotApplicable]:
    """One row per name unmapped in the baseline or the subject (name → the adapter's reason), by name."""
    sides = (("baseline", baseline), ("subject", subject))
    return [
        NotApplicable(name=name, reason="; ".join(f"{role}: {where[name]}" for role, where in sides if name in where))
        for name in sorted(baseline.keys() | subject.keys())
    ]


def applicability_problem(
    rows: list[NotApplicable], measured: list[str], baseline: Mapping[str, str], subject: Mapping[str, str]
) -> str | None:
    """Why a guard's `not_applicable` rows and measured names disagree with the models' unmapped maps (None
    when they agree): the rows must be exactly the derived ones, and no unmapped name may be measured."""
    if rows != not_applicable(baseline, subject):
        return "not_applicable rows differ from the matrices the models' identities list as unmapped"
    both = sorted(set(measured) & (baseline.keys() | subject.keys()))
    if both:
        return f"{both[0]} is measured but a model lists it as unmapped"
    return None
