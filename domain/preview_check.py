"""The preview arm's catastrophe check: what certify records (`preview_assessment`, `rollback_reason`) and what
replay requires of a recorded one (`assessment_problem`): the decision its evidence gives, nothing else."""

from __future__ import annotations

import math

from . import events as ev
from .build import arm_evidence
from .errors import IntegrityError, InvarlockError
from .metrics import recorded_metric
from .policy import RECORDED_STATISTIC_REL_TOL, Policy
from .run import RunState

Assessment = ev.PreviewAssessed | ev.PreviewChecked


def preview_assessment(state: RunState) -> Assessment:
    """PreviewAssessed for a perplexity ratio, PreviewChecked (the metric's reason) for another statistic, from the
    preview arm's evidence under the run's recorded policy.

    Raises:
        IntegrityError: E604 when the preview arm holds no evidence.
        UsageError: E403 when the evidence cannot carry the kind's statistic (the metric's arm_statistic).
    """
    evidence = arm_evidence(state, "preview")
    if evidence is None:
        raise IntegrityError("E604", f"run {state.started.run_id}: the preview arm was not scored", "report this bug")
    policy = state.started.policy
    metric = recorded_metric(state.started.config)
    preview = metric.arm_statistic(evidence)
    reason = metric.catastrophe(preview, policy)
    if preview.ratio is None:
        return ev.PreviewChecked(catastrophe=reason is not None, reason=reason or "")
    return ev.PreviewAssessed(
        ratio=preview.value("ratio"), catastrophe_ratio=policy.gates.catastrophe_ratio, catastrophe=reason is not None
    )


def rollback_reason(assessment: Assessment, policy: Policy) -> str:
    """The reason certify records with the rollback an assessment that trips calls for."""
    if isinstance(assessment, ev.PreviewChecked):
        return assessment.reason
    return f"preview ratio {assessment.ratio:.4f} > {policy.gates.catastrophe_ratio}"


def assessment_problem(state: RunState) -> str | None:
    """What is wrong with the recorded preview assessment and rollback, or None: the assessment must be what the
    preview evidence gives (its ratio to RECORDED_STATISTIC_REL_TOL, a summation's rounding), and a rollback is
    recorded exactly when it trips, with the reason certify gives it, before anything of the final arm."""
    recorded = state.preview
    if recorded is None:
        return "a rollback was recorded before the preview assessment" if state.rollback is not None else None
    try:
        expected = preview_assessment(state)
    except (InvarlockError, ArithmeticError) as exc:
        return f"the preview assessment cannot be recomputed from the preview evidence: {exc}"
    if not _agrees(recorded, expected):
        said, gives = _said(recorded), _said(expected)
        return f"the recorded preview assessment ({said}) is not what the preview evidence gives ({gives})"
    if state.rollback is not None and not recorded.catastrophe:
        return "a rollback was recorded though the preview assessment does not trip"
    if state.rollback is not None and _final_scored(state):
        return "the final arm was scored after the rollback"
    if state.rollback is not None and state.rollback != rollback_reason(recorded, state.started.policy):
        return f"the rollback's reason {state.rollback!r} is not the preview assessment's"
    if recorded.catastrophe and state.rollback is None and _past_preview(state):
        return "the preview assessment trips, yet the run went on without its rollback"
    return None


def _agrees(recorded: Assessment, expected: Assessment) -> bool:
    if isinstance(recorded, ev.PreviewChecked) or isinstance(expected, ev.PreviewChecked):
        return recorded == expected
    same_ratio = math.isclose(recorded.ratio, expected.ratio, rel_tol=RECORDED_STATISTIC_REL_TOL, abs_tol=0.0)
    return same_ratio and (recorded.catastrophe_ratio, recorded.catastrophe) == (
        expected.catastrophe_ratio,
        expected.catastrophe,
    )


def _said(assessment: Assessment) -> str:
    trips = "trips" if assessment.catastrophe else "does not trip"
    if isinstance(assessment, ev.PreviewChecked):
        return trips if not assessment.reason else f"{trips}: {assessment.reason}"
    return f"ratio {assessment.ratio:.6g}, {trips}"


def _final_scored(state: RunState) -> bool:
    return bool(state.scored("baseline", "final") or state.scored("subject", "final") or state.compared("final"))


def _past_preview(state: RunState) -> bool:
    return _final_scored(state) or state.issued is not None or state.completed is not None
