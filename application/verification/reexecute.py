"""reexecute_certificate: the recipient's re-execution audit (`invarlock verify CERT --baseline B --subject S`).

Plain verify recomputes every statistic from the evidence but takes the evidence itself on trust. The audit
checks that evidence against the models: their digests, the windows rebuilt from the dataset recipe, the NLL
sums of a sample of windows re-scored by both models (chosen with the recipient's seed), and a sample of the
guards' measurements. It is recorded as a stream of its own when an event store is given. It holds both models,
or one at a time (reexecute_baseline)."""

from __future__ import annotations

from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.policy import REEXECUTION_REL_TOL, Policy, policy_from_dict
from invarlock.domain.reexecution import (
    FORWARD_KEYS,
    POWER_FRACTIONS,
    build_differences,
    detection_power,
    with_tool_version,
)

from .reexecute_baseline import holds_one_model
from .reexecute_guards import guard_findings, repairs_before
from .reexecute_identity import edit_findings, identity_findings
from .reexecute_inputs import AuditContext, Exactness
from .reexecute_loading import LoadedForAudit, load_both, load_one_at_a_time, rebuilder
from .reexecute_request import AuditStream, ReexecutionDeps, ReexecutionOutcome, ReexecutionRequest
from .reexecute_scores import score_findings

AUDIT_EVENT_TYPES = frozenset(
    {"reexecution_started", "window_rechecked", "comparison_rechecked", "matrix_rechecked", "reexecution_finished"}
)


def is_audit_stream(records: list[ev.RecordedEvent]) -> bool:
    """An intact re-execution audit stream (not a run): it starts with reexecution_started, holds only audit
    events and its chain links. A run stream relabelled to hide it is none of these, so it stays listed."""
    return (
        bool(records)
        and records[0].type == "reexecution_started"
        and all(r.type in AUDIT_EVENT_TYPES for r in records)
        and not ev.chain_problems(records)
    )


def reexecute_certificate(cert: c.Certificate, req: ReexecutionRequest, deps: ReexecutionDeps) -> ReexecutionOutcome:
    """Run every audit step in order; a step that fails stops the steps that depend on it (scoring other
    models or other windows proves nothing). Loading errors (UsageError) propagate before anything is
    recorded; a later error is a failed finding (a usage error is recorded, then propagates). The stream is
    appended whole when the audit ends (AuditStream)."""
    policy = policy_from_dict(cert.policy.resolved)
    one = holds_one_model(cert, req.sequential)
    loaded = load_one_at_a_time(cert, req, deps, policy) if one else load_both(cert, req, deps)
    subject = loaded.identities["subject"]
    recorded = with_tool_version(cert.provenance.environment, cert.tool.version)
    current = with_tool_version(deps.environment(), deps.tool_version)
    diffs = build_differences(recorded, current, cert.subject, subject)
    forward = build_differences(recorded, current, cert.subject, subject, keys=FORWARD_KEYS)
    rules = Exactness(forward_passes=req.exact or not forward, matrices=req.exact or not diffs)
    stream = AuditStream(deps.store, deps.new_stream_id())
    stream.record(_started(cert, req, deps, diffs, rules, sequential=one))
    outcome = ReexecutionOutcome(stream_id=stream.stream_id if deps.store is not None else None)
    size = sample_size(cert, req.sample)
    outcome.power = {f"{f:g}": detection_power(f, size) for f in POWER_FRACTIONS}
    outcome.findings.append(("reexec:sample", True, _sample_detail(cert, req, size, outcome.power)))
    outcome.findings.append(("reexec:build", True, _build_detail(diffs, forward, req.exact)))
    try:
        _steps(cert, req, deps, policy, loaded, rules, stream, outcome)
    except InvarlockError as exc:  # recorded as the audit's outcome; a usage error still stops the command
        outcome.findings.append(("reexec:error", False, f"the audit stopped: {exc.message}"))
        if isinstance(exc, UsageError):
            stream.close(_finished(deps, outcome))
            raise
    finally:
        _close_reference(loaded)
    try:
        stream.close(_finished(deps, outcome))
    except UsageError as exc:  # the store did not take the stream (locked, full): the findings stand, unrecorded
        outcome.unrecorded = exc
    return outcome


def _close_reference(loaded: LoadedForAudit) -> None:
    answers = loaded.released.answers if loaded.released is not None else None
    if answers is not None and answers.reference is not None:
        answers.reference.close()


def _steps(
    cert: c.Certificate,
    req: ReexecutionRequest,
    deps: ReexecutionDeps,
    policy: Policy,
    loaded: LoadedForAudit,
    exact: Exactness,
    stream: AuditStream,
    outcome: ReexecutionOutcome,
) -> None:
    outcome.findings += identity_findings(cert, loaded.identities)
    outcome.findings += edit_findings(cert, loaded.edit, loaded.edited_weights, loaded.edited_copy_of)
    if not outcome.ok:
        return
    released = loaded.released
    if released is None:
        rebuilt = rebuilder(cert)(cert, policy, deps.corpora, loaded.models["baseline"])
    elif released.error is not None:  # it stops the audit where it would stop one holding the baseline
        outcome.findings += released.rebuilt.findings if released.rebuilt is not None else []
        raise released.error
    else:
        assert released.rebuilt is not None, "the pass rebuilds the windows of a certified baseline"
        rebuilt = released.rebuilt
    outcome.findings += rebuilt.findings
    if not rebuilt.ok:
        return
    audit = AuditContext(
        cert,
        policy,
        loaded.models,
        rebuilt.rows,
        req.sample,
        req.sample_seed,
        exact.forward_passes,
        exact.matrices,
        REEXECUTION_REL_TOL,
        stream.record,
        pool=deps.measurements,
        baseline=released.answers if released is not None else None,
    )
    found, outcome.matrices = guard_findings(audit)
    outcome.findings += found
    repairs = repairs_before(cert, list(policy.guard_order), len(policy.guard_order))
    findings, tally = score_findings(audit, repairs)
    outcome.findings += findings
    outcome.windows, outcome.max_rel_diff = tally.checked, tally.max_rel_diff


# The tolerance follows the build the certificate states, which is its own claim: say so, and how to refuse it.
_CLAIMED = (
    " (the build is the certificate's own statement, which nothing checks: if you run the issuer's build, --exact "
    "demands bit for bit)"
)


def _build_detail(diffs: list[str], forward: list[str], exact: bool) -> str:
    if exact:
        stated = f"; the certificate states another build: {'; '.join(diffs)}" if diffs else ""
        return f"--exact: every number must agree bit for bit{stated}"
    if forward:
        return f"numbers must agree within {REEXECUTION_REL_TOL:g} relative: {'; '.join(diffs)}{_CLAIMED}"
    if diffs:
        return (
            "same device, dtype and forward-pass build as the issuer: scores and activation taps must agree bit "
            f"for bit, weight-guard matrices within {REEXECUTION_REL_TOL:g} relative: {'; '.join(diffs)}{_CLAIMED}"
        )
    return "same device, dtype and build as the issuer: numbers must agree bit for bit"


def arm_samples(cert: c.Certificate, sample: int | None) -> list[tuple[str, int, int]]:
    """(arm, windows re-scored, windows in the arm) of each scored arm."""
    scored = (("preview", cert.evidence.preview), ("final", cert.evidence.final))
    sizes = [(name, len(set(a.window_ids))) for name, a in scored if a is not None]
    return [(name, n if sample is None else min(n, sample), n) for name, n in sizes]


def sample_size(cert: c.Certificate, sample: int | None) -> int:
    """K: the windows re-scored in the smallest scored arm."""
    return min(taken for _, taken, _ in arm_samples(cert, sample))


def _sample_detail(cert: c.Certificate, req: ReexecutionRequest, size: int, power: dict[str, float]) -> str:
    seed = f"sample seed {req.sample_seed} (repeat with --sample-seed {req.sample_seed})"
    taken = arm_samples(cert, req.sample)
    if all(k == n for _, k, n in taken):  # "K = 8 per arm ... f = 1%: 7.7%" read for a sample holding every window
        every = ", ".join(f"{n} {name}" for name, _, n in taken)
        return f"{seed}; every window of each scored arm re-scored ({every}): any altered window is found"
    counts = ", ".join(f"{k} of {n} {name}" for name, k, n in taken)
    chance = ", ".join(f"f = {float(f):.0%}: {p:.1%}" for f, p in power.items())
    return (
        f"{seed}; {counts} windows; with K = {size} (the smallest arm's sample), if a fraction f of the windows was "
        f"altered, this sample finds one with probability >= 1 - (1 - f)^K: {chance}"
    )


def _started(
    cert: c.Certificate,
    req: ReexecutionRequest,
    deps: ReexecutionDeps,
    diffs: list[str],
    rules: Exactness,
    *,
    sequential: bool,
) -> ev.Event:
    return ev.ReexecutionStarted(
        certificate_run_id=cert.run_id,
        certificate_digest=cert.digest,
        baseline_ref=req.baseline,
        subject_ref=req.subject or f"{req.baseline} + {cert.edit.name}",
        sample=req.sample,
        sample_seed=req.sample_seed,
        started_at=deps.clock(),
        tool_version=deps.tool_version,
        environment=deps.environment(),
        exact=rules.forward_passes and rules.matrices,
        rel_tol=REEXECUTION_REL_TOL,
        build_differences=diffs,
        sequential=sequential,
    )


def _finished(deps: ReexecutionDeps, outcome: ReexecutionOutcome) -> ev.Event:
    return ev.ReexecutionFinished(
        finished_at=deps.clock(),
        ok=outcome.ok,
        failures=[f"{name}: {detail}" for name, ok, detail in outcome.findings if not ok],
        windows_rechecked=outcome.windows,
        matrices_rechecked=outcome.matrices,
        max_rel_diff=outcome.max_rel_diff,
        detection_power=outcome.power,
    )
