"""What the audit's guard steps share: the baseline's unmapped weights and matrices (held, or as the released
baseline answered them), and comparing a re-measured row with its record (recorded as matrix_rechecked)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from invarlock.domain import events as ev
from invarlock.domain.reexecution import compare_tree
from invarlock.ports.model import NamedMatrix

from ..certification.recorded_baseline import MatrixSummary
from .reexecute_inputs import AuditContext, Tally


def unmapped(audit: AuditContext) -> Mapping[str, str]:
    released = audit.baseline
    return released.read(released.unmapped) if released is not None else audit.models["baseline"].unmapped()


def base_matrices(audit: AuditContext) -> Iterable[NamedMatrix | MatrixSummary]:
    released = audit.baseline
    return released.read(released.matrices) if released is not None else audit.models["baseline"].matrices()


def compare(audit: AuditContext, guard: str, name: str, stated: object, recomputed: object, tally: Tally) -> None:
    """`stated` against `recomputed`, by the audit's exactness rule for `guard`'s kind of number."""
    # Variance taps come from forward passes; matrix measurements (spectral, RMT, plugins) from BLAS/LAPACK;
    # invariants checks are names and counts.
    exact = audit.exact if guard == "variance" else guard == "invariants" or audit.exact_matrices
    where, diff = compare_tree(stated, recomputed, exact=exact, rel_tol=audit.rel_tol)
    tally.checked += 1
    tally.max_rel_diff = max(tally.max_rel_diff, diff)
    if where is not None:
        tally.mismatches.append(f"{name} at {where.lstrip('.') or 'the record'} (relative difference {diff:.3g})")
    audit.record(
        ev.MatrixRechecked(guard=guard, name=name, max_rel_diff=_finite(diff), ok=where is None, mismatch=where)
    )


def mismatch(audit: AuditContext, guard: str, name: str, why: str, tally: Tally) -> None:
    """A row that cannot be compared (missing, unlisted, unknown): a failed check naming why."""
    tally.checked += 1
    tally.mismatches.append(f"{name}: {why}")
    audit.record(ev.MatrixRechecked(guard=guard, name=name, max_rel_diff=0.0, ok=False, mismatch=why))


def _finite(value: float) -> float:
    return value if value != float("inf") else 1.0
