"""verify's checks of single certificate fields against the evidence, the plan and the policy.

Each function adds one named check to the report; a check whose inputs are missing fails, it never passes."""

from __future__ import annotations

import math
from collections.abc import Sized

import msgspec
import numpy as np
from invarlock.domain import certificate as c
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import InvarlockError
from invarlock.domain.metrics import metric_for, scores_nll
from invarlock.domain.metrics.answers import checked_scored_tokens
from invarlock.domain.policy import Policy, re_resolve
from invarlock.domain.windows import ARMS, plan_digest

from .verify_report import MALFORMED, VerifyReport, dig


def scored_arms(ev_: c.Evidence) -> list[tuple[str, c.ArmEvidence]]:
    """(name, rows) of every scored arm: preview, and final unless the run rolled back."""
    return [("preview", ev_.preview)] + ([("final", ev_.final)] if ev_.final is not None else [])


def _arm_problem(name: str, arm: c.ArmEvidence, kind: str) -> str | None:
    nll = [col for col in (arm.baseline_nll, arm.subject_nll) if col is not None]
    if len(nll) == 1 or not (nll or arm.comparisons is not None):
        return f"evidence.{name}: neither both NLL columns nor paired comparisons"
    if scores_nll(kind) is not None and bool(nll) != scores_nll(kind):
        said = "NLL columns, which" if nll else "no NLL columns, which every"
        return f"evidence.{name}: {said} {kind} run{'s do not score' if nll else ' records'}"
    columns: list[Sized] = [arm.window_ids, arm.window_digests, arm.tokens_scored, *nll]
    columns += [arm.comparisons] if arm.comparisons is not None else []
    if len({len(col) for col in columns}) != 1:
        return f"evidence.{name}: its columns have different lengths ({', '.join(str(len(x)) for x in columns)})"
    if len(arm.window_ids) < 2:
        return f"evidence.{name}: {len(arm.window_ids)} windows (at least 2 are needed)"
    if any(t <= 0 for t in arm.tokens_scored):
        return f"evidence.{name}: a window has no scored tokens"
    for column in ("baseline_nll", "subject_nll")[: len(nll)]:
        if not _summable(getattr(arm, column)):
            return f"evidence.{name}.{column}: a value is not finite, or so large that its sums are not"
    return None


def _summable(column: list[float]) -> bool:
    """Every value finite, and small enough that any sum of n differences stays finite (|Σ| ≤ 2 n max|x|)."""
    values = np.abs(np.asarray(column, dtype=np.float64))
    return bool(np.all(np.isfinite(values))) and math.isfinite(2.0 * len(values) * float(values.max(initial=0.0)))


def evidence_shapes(cert: c.Certificate, report: VerifyReport) -> bool:
    """Every scored arm has aligned columns, at least 2 windows, scored tokens and finite NLL sums (whose
    sums are finite too), and the bare-subject NLLs align with the final arm: checked before any arithmetic."""
    kind = cert.primary_metric.kind
    problems = [p for name, arm in scored_arms(cert.evidence) if (p := _arm_problem(name, arm, kind))]
    overhead, final = cert.guard_overhead, cert.evidence.final
    if overhead is not None:
        bare = overhead.bare_subject_nll
        if final is None or len(bare) != len(final.window_ids) or not _summable(bare):
            problems.append("guard_overhead.bare_subject_nll: not one finite value per final-arm window")
    ok = not problems
    return report.add("evidence", ok, "columns aligned, values finite" if ok else problems[0])


def window_plan(cert: c.Certificate, report: VerifyReport) -> None:
    """The plan digest is recomputed from `evidence.plan`; each scored arm must be exactly the plan's rows of
    that arm in plan order, the variance guard's calibration rows the plan's calibration rows, and the
    dataset's window counts the plan's counts."""
    ev_, ds = cert.evidence, cert.dataset
    problems = [] if plan_digest(ev_.plan) == ds.window_plan_digest else ["plan digest differs from dataset"]
    by_arm = {arm: [(p.window_id, p.digest) for p in ev_.plan if p.arm == arm] for arm in ARMS}
    unknown = sorted({p.arm for p in ev_.plan} - set(ARMS))
    if unknown:
        problems.append(f"plan names unknown arm {unknown[0]!r}")
    for name, arm in scored_arms(ev_):  # evidence_shapes has checked that the columns align
        if list(zip(arm.window_ids, arm.window_digests, strict=True)) != by_arm[name]:
            problems.append(f"evidence.{name} is not the plan's {name} rows")
        if arm.comparisons is not None and [m.window_id for m in arm.comparisons] != arm.window_ids:
            problems.append(f"evidence.{name}.comparisons name other windows than its window_ids")
    counts = msgspec.structs.asdict(ds.windows)
    if any(counts[arm] != len(by_arm[arm]) for arm in ARMS):
        problems.append("dataset.windows counts differ from the plan")
    calibration = _calibration_rows(cert)
    if calibration is not None and calibration != by_arm["calibration"]:
        problems.append("the variance guard's calibration rows are not the plan's")
    ok = not problems
    report.add("window_plan", ok, "plan digest, arms and counts recomputed from evidence.plan" if ok else problems[0])


def _calibration_rows(cert: c.Certificate) -> list[tuple[int, str]] | None:
    """The calibration rows the variance guard records (None when the run has no variance section)."""
    section = cert.guards.variance
    if section is None:
        return None
    cal = section.measurements.calibration
    if len(cal.window_ids) != len(cal.window_digests):
        return [(-1, "malformed")]
    return list(zip(cal.window_ids, cal.window_digests, strict=True))


def status(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    """certify rolls back exactly when the preview ratio exceeds the catastrophe ratio; then the final arm is
    not scored. `status` must say so, and the evidence must agree."""
    metric = metric_for(cert.primary_metric.kind)
    try:
        preview = metric.arm_statistic(cert.evidence.preview)
    except (InvarlockError, ArithmeticError) as exc:
        report.add("status", False, f"preview ratio cannot be recomputed: {exc}")
        return
    try:
        why = metric.catastrophe(preview, policy)
    except InvarlockError as exc:
        report.add("status", False, f"the catastrophe check cannot be decided: {exc}")
        return
    rollback = why is not None
    expected = "rollback" if rollback else "completed"
    ok = cert.status == expected and (cert.evidence.final is None) == rollback
    if preview.ratio is not None:
        detail = f"{expected}: preview ratio {preview.ratio:.4f} vs catastrophe ratio {policy.gates.catastrophe_ratio}"
    else:
        detail = f"{expected}: {why or 'the preview statistic is within the catastrophe limit'}"
    report.add("status", ok, detail if ok else f"status {cert.status} contradicts the evidence ({detail})")


def edit_plan_digest(plan: dict[str, object]) -> str:
    """sha256 of an edit plan's canonical JSON: what the edits record as `plan_digest`."""
    return sha256_hex(canonical_bytes(plan))


def edit_plan(cert: c.Certificate, report: VerifyReport) -> None:
    e = cert.edit
    if e.plan is None and e.plan_digest is None:
        report.add("edit_plan", e.name == "external", f"edit {e.name}: no plan recorded")
        return
    try:
        ok = e.plan is not None and edit_plan_digest(e.plan) == e.plan_digest
    except InvarlockError:
        ok = False
    report.add("edit_plan", ok, "plan digest recomputed from edit.plan" if ok else "edit.plan_digest ≠ sha256(plan)")


def window_tokens(cert: c.Certificate) -> tuple[int, str]:
    """(tokens, the rule in words) the certificate's metric kind scores in a window of its seq_len, checked as
    certify checks it (UsageError E223 naming the kind when its answer is none)."""
    metric = metric_for(cert.primary_metric.kind)
    return checked_scored_tokens(metric.kind, metric.scored_tokens(cert.dataset.seq_len))


def tokens_scored(cert: c.Certificate, report: VerifyReport) -> None:
    """Every window scored the number of tokens its metric scores in a window of seq_len tokens."""
    try:
        want, rule = window_tokens(cert)
    except InvarlockError as exc:
        report.add("tokens_scored", False, f"cannot be decided: {exc}")
        return
    bad = [(name, t) for name, arm in scored_arms(cert.evidence) for t in arm.tokens_scored if t != want]
    detail = f"every window scored {rule} = {want} tokens"
    report.add("tokens_scored", not bad, detail if not bad else f"evidence.{bad[0][0]}: {bad[0][1]} ≠ {want} tokens")


def seeds(cert: c.Certificate, report: VerifyReport) -> None:
    """The bootstrap seed is the run's dataset seed (as recorded in provenance and in its config)."""
    recorded = cert.provenance.seeds.get("dataset")
    config_seed = dig(cert.provenance.config, "dataset", "seed")
    ok = type(config_seed) is int and cert.bootstrap.seed == recorded == config_seed
    detail = f"bootstrap seed {cert.bootstrap.seed}, provenance dataset seed {recorded}, config seed {config_seed}"
    report.add("bootstrap_seed", ok, detail)


def tokenizers(cert: c.Certificate, report: VerifyReport) -> None:
    digests = {cert.dataset.tokenizer_sha256, cert.baseline.tokenizer_sha256, cert.subject.tokenizer_sha256}
    ok = len(digests) == 1
    report.add("tokenizer", ok, "dataset, baseline and subject tokenizer digests agree" if ok else "they differ")


def unresolved_field(policy: Policy, released: str | None = None) -> str | None:
    """The first field of `policy` that is not what its tier, profile and recorded overrides resolve to with the
    tier table of release `released` (policy.re_resolve); None when it is that resolution. Raises as re_resolve."""
    expected = re_resolve(policy, released)
    return next((k for k in Policy.__struct_fields__ if getattr(expected, k) != getattr(policy, k)), None)


def resolved_policy(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    """The recorded policy must be its tier table plus its listed overrides, and its guard order the run's."""
    try:
        where = unresolved_field(policy, cert.tool.version)
    except (InvarlockError, *MALFORMED) as exc:
        report.add("policy_resolved", False, f"recorded overrides are invalid: {exc}")
        return
    run_order = dig(cert.provenance.config, "guards", "order")
    not_run = _not_the_runs(cert, policy)
    if not_run is not None:
        report.add("policy_resolved", False, not_run)
    elif where is not None:
        report.add("policy_resolved", False, f"policy.{where} is not the {policy.tier} tier plus its overrides")
    elif not isinstance(run_order, list) or run_order != list(policy.guard_order):
        report.add("policy_resolved", False, "the policy's guard order is not the run's guards.order")
    else:
        listed = ", ".join(sorted(policy.overrides)) or "none"
        report.add("policy_resolved", True, f"tier {policy.tier} table plus overrides ({listed})")


def _not_the_runs(cert: c.Certificate, policy: Policy) -> str | None:
    """A run resolves its policy from the tier, the profile and its config's guard settings alone
    (certification/run_request.policy_for): numeric gate overrides and evidence requirements are a recipient's,
    given to verify, and a certificate that records them claims limits no run applied."""
    gates = sorted(key for key in policy.overrides if key not in ("guards", "guard_order"))
    if gates:
        return f"policy.overrides sets {', '.join(gates)}: a run records only its config's guard settings"
    if policy.evidence is not None:
        return "policy.evidence is a recipient's requirement (verify --policy), never a run's"
    configured = _configured_guard_settings(dig(cert.provenance.config, "guards"))
    if policy.overrides.get("guards", {}) != configured:
        return "policy.overrides.guards is not the run config's guard settings"
    return None


def _configured_guard_settings(guards: object) -> dict[str, object]:
    """What the run's GuardsConfig.overrides() gave: each guard's non-empty settings (a plugin guard's are
    recorded under its own name, as config_to_dict writes them)."""
    if not isinstance(guards, dict):
        return {}
    return {name: values for name, values in guards.items() if name != "order" and values}
