"""Invariants guard: structural checks of the subject against the baseline (GUARDS.md §1)."""

from __future__ import annotations

from typing import Literal

from ..model import TensorCensus
from .record import Record, Verdict

# The checks each phase records, in order (verify requires exactly these: a dropped check would hide a failure).
PRE_CHECKS = ("baseline_has_tensors", "baseline_weights_finite", "subject_has_tensors", "subject_weights_finite")
POST_CHECKS = (
    "same_parameter_names",
    "same_shapes",
    "same_dtypes",
    "same_config",
    "ties_preserved",
    "tokenizer_equal",
    "subject_weights_finite",
    "no_matrix_zeroed",
)


class Check(Record, frozen=True):
    """One structural check: its status, what failing means, the first offending names and their count."""

    name: str
    status: Literal["pass", "warn", "fail"]
    detail: str
    offenders: list[str]
    offender_count: int


def _check(name: str, offenders: list[str], detail: str, limit: int) -> Check:
    return Check(
        name=name,
        status="fail" if offenders else "pass",
        detail=detail if offenders else "ok",
        offenders=sorted(offenders)[:limit],
        offender_count=len(offenders),
    )


def _finite(census: TensorCensus, role: str, limit: int) -> Check:
    bad = [t.name for t in census.tensors if not t.finite]
    return _check(f"{role}_weights_finite", bad, "tensors with NaN or Inf values", limit)


def health_checks(census: TensorCensus, role: str, *, limit: int) -> list[Check]:
    """Checks one model alone: every tensor finite and at least one tensor present (`limit` offenders listed)."""
    empty = [] if census.tensors else ["<no tensors>"]
    return [_check(f"{role}_has_tensors", empty, "model has no parameters", limit), _finite(census, role, limit)]


def comparison_checks(
    base: TensorCensus, subj: TensorCensus, *, dtype_change_declared: bool, limit: int
) -> list[Check]:
    """Checks the subject against the baseline: names, shapes, dtypes, config, ties, finiteness, zeros.
    A weight either adapter cannot map is left out of the per-name checks (its stored layout is unknown); the
    weight guards list it as not applicable."""
    skip = set(base.unmapped) | set(subj.unmapped)
    b = {t.name: t for t in base.tensors if t.name not in skip}
    s = {t.name: t for t in subj.tensors if t.name not in skip}
    common = sorted(b.keys() & s.keys())
    checks = [
        _check("same_parameter_names", sorted(b.keys() ^ s.keys()), "parameters present on one side only", limit),
        _check("same_shapes", [n for n in common if b[n].shape != s[n].shape], "shapes differ", limit),
        _check(
            "same_config", _differs(base.config_sha256, subj.config_sha256, "config"), "config digests differ", limit
        ),
        _check("ties_preserved", _tie_breaks(base, subj), "tied weight groups differ", limit),
        _check(
            "tokenizer_equal",
            _differs(base.tokenizer_sha256, subj.tokenizer_sha256, "tokenizer"),
            "digests differ",
            limit,
        ),
        _finite(subj, "subject", limit),
        _check(
            "no_matrix_zeroed", [n for n in common if not b[n].all_zero and s[n].all_zero], "became all-zero", limit
        ),
    ]
    if not dtype_change_declared:
        checks.insert(2, _check("same_dtypes", [n for n in common if b[n].dtype != s[n].dtype], "dtypes differ", limit))
    return checks


def _differs(a: str, b: str, what: str) -> list[str]:
    return [] if a == b else [what]


def _tie_breaks(base: TensorCensus, subj: TensorCensus) -> list[str]:
    def groups(c: TensorCensus) -> set[tuple[str, ...]]:
        return {tuple(sorted(g)) for g in c.tied_groups}

    return [",".join(g) for g in sorted(groups(base) ^ groups(subj))]


def verdict_of(checks: list[Check]) -> Verdict:
    """'fail' when any check failed, else 'pass'. Used when recording and when re-verifying."""
    return "fail" if any(c.status == "fail" for c in checks) else "pass"


def checks_problem(phase: str, checks: list[Check], *, limit: int) -> str | None:
    """Why a recorded phase's checks are not what the guard records under a policy listing `limit` offenders
    (a check missing, added or reordered, or one whose status, offenders and count contradict each other), or
    None."""
    want = {"pre": PRE_CHECKS, "post": POST_CHECKS}.get(phase)
    names = tuple(c.name for c in checks)
    if want is None:
        return f"unknown invariants phase {phase!r}"
    if names != want:
        missing, extra = [n for n in want if n not in names], [n for n in names if n not in want]
        what = f"lacks check {missing[0]}" if missing else f"has check {extra[0]}" if extra else "reorders its checks"
        return f"phase {phase} {what} (it records {', '.join(want)} once each)"
    for c in checks:
        failing = c.offender_count > 0
        if c.status != ("fail" if failing else "pass") or (c.detail == "ok") == failing:
            return f"check {c.name} says {c.status} ({c.detail!r}) with {c.offender_count} offenders"
        if c.offenders != sorted(set(c.offenders)) or len(c.offenders) != min(c.offender_count, limit):
            return f"check {c.name} lists {len(c.offenders)} offenders of {c.offender_count}"
    return None
