"""verify's checks of the paired measures (evidence comparisons) and the secondary metrics recomputed from them."""

from __future__ import annotations

from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.metrics import paired_fields
from invarlock.domain.metrics.secondary import kl_rows, secondary_metrics
from invarlock.domain.model import WindowComparison
from invarlock.domain.policy import Policy

from .verify_report import MALFORMED, VerifyReport, compare, dig


def comparisons(cert: c.Certificate, report: VerifyReport) -> None:
    """Every scored arm's comparisons align with its windows (checked after evidence_shapes) and hold only the
    measures a run of the certificate's kind records."""
    scored = (("preview", cert.evidence.preview), ("final", cert.evidence.final))
    arms = [(name, arm) for name, arm in scored if arm is not None]
    kind = cert.primary_metric.kind
    problems = [p for name, arm in arms if (p := _comparison_problem(name, arm, kind))]
    measured = [name for name, arm in arms if arm.comparisons is not None]
    if measured and len(measured) != len(arms):  # a run measures every window it scores, or none
        unmeasured = next(name for name, _ in arms if name not in measured)
        problems.insert(0, f"evidence.{unmeasured}.comparisons is missing where evidence.{measured[0]} has them")
    if measured:
        ok = not problems
        report.add("comparisons", ok, "one row per window, same id and positions" if ok else problems[0])


def _comparison_problem(name: str, arm: c.ArmEvidence, kind: str) -> str | None:
    """Why an arm's comparisons do not align with its windows (one per window, same id, positions equal to
    the tokens scored) or hold another kind's measures, or None."""
    rows = arm.comparisons
    if rows is None:
        return None
    if len(rows) != len(arm.window_ids):
        return f"evidence.{name}.comparisons: {len(rows)} rows for {len(arm.window_ids)} windows"
    allowed = paired_fields(kind)
    for m, wid, tokens in zip(rows, arm.window_ids, arm.tokens_scored, strict=True):
        if m.window_id != wid or m.positions != tokens:
            what = f"window {m.window_id}, {m.positions} positions"
            return f"evidence.{name}.comparisons: the row of window {wid} ({tokens} tokens) names {what}"
        foreign = sorted(_measures(m) - allowed) if allowed is not None else []
        if foreign:
            said = f"the row of window {wid} holds {', '.join(foreign)}"
            return f"evidence.{name}.comparisons: {said}, which {kind} runs do not measure"
        missing = sorted(allowed - _measures(m)) if allowed is not None else []
        if missing:  # a run records each of its kind's measures for every window it compares, or no comparisons
            return f"evidence.{name}.comparisons: the row of window {wid} lacks {', '.join(missing)}"
    try:  # every scored arm's KL/top-1 measures, not only the gated arm's the secondary metrics read
        kl_rows(arm)
    except UsageError as exc:
        return f"evidence.{name}.comparisons: {exc.message}"
    return None


def _measures(row: WindowComparison) -> set[str]:
    """The paired measures a row sets (its fields besides window_id and positions that are not None)."""
    fields = set(row.__struct_fields__) - {"window_id", "positions"}
    return {f for f in fields if getattr(row, f) is not None}


def recompute(cert: c.Certificate, policy: Policy, report: VerifyReport) -> c.SecondaryMetrics | None:
    """The secondary metrics recomputed from the evidence under `policy`, compared with the stated ones."""
    try:
        recomputed = secondary_from(cert, policy)
    except (InvarlockError, *MALFORMED) as exc:
        report.add("secondary_metrics", False, f"secondary metrics cannot be recomputed: {exc}")
        return None
    if recomputed is None and cert.secondary_metrics is None:
        return None
    compare(report, "secondary_metrics", cert.secondary_metrics, recomputed)
    return recomputed


def secondary_from(cert: c.Certificate, policy: Policy) -> c.SecondaryMetrics | None:
    """The secondary metrics of the certificate's evidence under `policy` (its replicates and alpha)."""
    plan = cert.dataset.window_plan_digest
    return secondary_metrics(cert.evidence, seed=cert.bootstrap.seed, plan_digest=plan, policy=policy)


def gate_setting(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    """The policy gates the secondary metrics exactly when the run's config asked for it (eval.secondary.gate)."""
    asked = dig(cert.provenance.config, "eval", "secondary", "gate") is True
    gated = policy.secondary is not None
    if asked or gated:
        report.add("secondary_gate", asked == gated, f"eval.secondary.gate {asked}, policy gates secondary {gated}")
