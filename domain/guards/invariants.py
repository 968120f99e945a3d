"""Invariants guard: structural checks of the subject against the baseline (GUARDS.md §1)."""

from __future__ import annotations

from typing import Literal

from ..model import TensorCensus
from .record import Record, Verdict

REPORT_LIMIT = 20


class Check(Record, frozen=True):
    """One structural check: its status, what failing means, the first offending names and their count."""

    name: str
    status: Literal["pass", "warn", "fail"]
    detail: str
    offenders: list[str]
    offender_count: int


def _check(name: str, offenders: list[str], detail: str) -> Check:
    return Check(
        name=name,
        status="fail" if offenders else "pass",
        detail=detail if offenders else "ok",
        offenders=sorted(offenders)[:REPORT_LIMIT],
        offender_count=len(offenders),
    )


def _finite(census: TensorCensus, role: str) -> Check:
    bad = [t.name for t in census.tensors if not t.finite]
    return _check(f"{role}_weights_finite", bad, "tensors with NaN or Inf values")


def health_checks(census: TensorCensus, role: str) -> list[Check]:
    """Checks one model alone: every tensor finite and at least one tensor present."""
    empty = [] if census.tensors else ["<no tensors>"]
    return [_check(f"{role}_has_tensors", empty, "model has no parameters"), _finite(census, role)]


def comparison_checks(base: TensorCensus, subj: TensorCensus, *, dtype_change_declared: bool) -> list[Check]:
    """Checks the subject against the baseline: names, shapes, dtypes, config, ties, finiteness, zeros.
    A weight either adapter cannot map is left out of the per-name checks (its stored layout is unknown); the
    weight guards list it as not applicable."""
    skip = set(base.unmapped) | set(subj.unmapped)
    b = {t.name: t for t in base.tensors if t.name not in skip}
    s = {t.name: t for t in subj.tensors if t.name not in skip}
    common = sorted(b.keys() & s.keys())
    checks = [
        _check("same_parameter_names", sorted(b.keys() ^ s.keys()), "parameters present on one side only"),
        _check("same_shapes", [n for n in common if b[n].shape != s[n].shape], "shapes differ"),
        _check("same_config", _differs(base.config_sha256, subj.config_sha256, "config"), "config digests differ"),
        _check("ties_preserved", _tie_breaks(base, subj), "tied weight groups differ"),
        _check(
            "tokenizer_equal",
            _differs(base.tokenizer_sha256, subj.tokenizer_sha256, "tokenizer"),
            "digests differ",
        ),
        _finite(subj, "subject"),
        _check("no_matrix_zeroed", [n for n in common if not b[n].all_zero and s[n].all_zero], "became all-zero"),
    ]
    if not dtype_change_declared:
        checks.insert(2, _check("same_dtypes", [n for n in common if b[n].dtype != s[n].dtype], "dtypes differ"))
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
