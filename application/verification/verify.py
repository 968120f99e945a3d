"""verify_certificate: recompute everything a certificate states from its own evidence (no models needed).

Plain verify proves the arithmetic: every statistic, gate, digest and guard outcome is recomputed. The
per-window NLL sums, guard measurements and model digests are trusted inputs (see verify_proves.TRUSTED);
only re-executing the models checks them."""

from __future__ import annotations

import msgspec
from invarlock.domain import analysis, gates
from invarlock.domain import certificate as c
from invarlock.domain.canonical import canonical_bytes
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.metrics import METRICS, known_kind, metric_for
from invarlock.domain.metrics.answers import checked_assessment
from invarlock.domain.policy import (
    VERIFY_MAX_BOOTSTRAP_CELLS,
    VERIFY_MAX_REPLICATES,
    Policy,
    policy_digest,
    policy_from_dict,
)
from invarlock.ports.signing import SignatureVerifier
from invarlock.ports.store import EventStore, RunIndex

from ..replay.replay import event_findings
from ..signing import check_signature
from . import verify_arms, verify_guards, verify_provenance, verify_secondary
from . import verify_fields as fields
from .verify_digests import digest_forms
from .verify_guards import rederived_sections
from .verify_proves import proves
from .verify_report import Check, VerifyReport, compare

__all__ = ["Check", "VerifyReport", "bootstrap_budget", "proves", "rederived_sections", "verify_certificate"]


def _bootstrap_windows(cert: c.Certificate) -> int:
    """The most windows any bootstrap of this certificate resamples (scored arms and the variance A/B)."""
    sizes = [len(arm.window_ids) for _, arm in fields.scored_arms(cert.evidence)]
    variance = cert.guards.variance
    ab = variance.measurements.ab if variance is not None else None
    return max([*sizes, len(ab.tokens) if ab is not None else 0])


def bootstrap_budget(cert: c.Certificate, policies: list[Policy], max_replicates: int) -> None:
    """Refuse (UsageError E607, exit 2) before any allocation a bootstrap over `max_replicates` replicates or
    over VERIFY_MAX_BOOTSTRAP_CELLS (replicate × window) cells."""
    windows = _bootstrap_windows(cert)
    for policy in policies:
        b = policy.replicates
        if b > max_replicates and b * windows <= VERIFY_MAX_BOOTSTRAP_CELLS:  # else no --max-replicates helps
            raise UsageError(
                "E607",
                f"the {policy.tier}/{policy.profile} policy asks for {b} bootstrap replicates "
                f"(verify allows {max_replicates})",
                f"pass --max-replicates {b} if you accept that cost (at most 40 bytes per replicate and window)",
            )
        if b * windows > VERIFY_MAX_BOOTSTRAP_CELLS:
            raise UsageError(
                "E607",
                f"a bootstrap of {b} replicates over {windows} windows exceeds {VERIFY_MAX_BOOTSTRAP_CELLS} cells",
                "verify it under a policy with fewer replicates (--tier/--policy)",
            )


def _recompute(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    ev_, ds, seed = cert.evidence, cert.dataset, cert.bootstrap.seed
    metric = metric_for(cert.primary_metric.kind)
    try:
        assessed = checked_assessment(
            metric.kind,
            metric.assess(ev_, seed=seed, plan_digest=ds.window_plan_digest, policy=policy),
            ev_,
            policy.gates.min_windows_ci,
        )
        pairing = analysis.pairing_section(ev_, ds)
    except (InvarlockError, ArithmeticError) as exc:
        report.add("recompute", False, f"evidence cannot be recomputed: {exc}")
        return
    compare(report, "primary_metric", cert.primary_metric, assessed.primary)
    compare(report, "bootstrap", cert.bootstrap, assessed.bootstrap)
    compare(report, "pairing", cert.pairing, pairing)
    verify_secondary.recompute(cert, policy, report)
    if cert.primary_metric.final is not None:
        report.add("ratio_identity", *metric.identity(cert.primary_metric.final))


def _fields(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    fields.resolved_policy(cert, policy, report)
    fields.window_plan(cert, report)
    verify_arms.arm_assignment(cert, policy, report)
    fields.status(cert, policy, report)
    fields.edit_plan(cert, report)
    fields.tokens_scored(cert, report)
    fields.seeds(cert, report)
    fields.tokenizers(cert, report)
    digest_forms(cert, report)
    verify_provenance.provenance(cert, report)
    verify_secondary.gate_setting(cert, policy, report)
    verify_secondary.comparisons(cert, report)


def _gates(cert: c.Certificate, policy: Policy, report: VerifyReport) -> str:
    try:
        flags, verdict = gates.of_certificate(cert, policy)
    except InvarlockError as exc:  # e.g. the policy lacks the section the metric's gates read
        report.add("validation", False, f"the gates cannot be evaluated under the policy: {exc.message}")
        return "FAIL"
    compare(report, "validation", cert.validation, flags)
    compare(report, "verdict", cert.verdict, verdict)
    return verdict.status


def _recipient_verdict(cert: c.Certificate, recipient: Policy, report: VerifyReport) -> str:
    """Decide under the verifier's policy: the interval is recomputed with ITS replicates and alpha, and the
    guards it gates must have run."""
    ev_, plan = cert.evidence, cert.dataset.window_plan_digest
    metric = metric_for(cert.primary_metric.kind)
    failed: list[str] = []
    try:
        assessed = metric.assess(ev_, seed=cert.bootstrap.seed, plan_digest=plan, policy=recipient)
        pm = checked_assessment(metric.kind, assessed, ev_, recipient.gates.min_windows_ci).primary
        secondary = verify_secondary.secondary_from(cert, recipient)
        overhead = cert.guard_overhead
        if overhead is not None:
            overhead = msgspec.structs.replace(overhead, limit=recipient.gates.guard_overhead_limit)
        _, verdict = gates.evaluate(
            pm,
            cert.pairing,
            rederived_sections(cert, recipient),
            cert.baseline,
            cert.subject,
            recipient,
            overhead=overhead,
            secondary=secondary,
        )
    except (InvarlockError, ArithmeticError) as exc:
        failed.append(f"recompute: {exc}")
    else:
        failed += [f"{f.flag} ({f.reason})" for f in verdict.failed]
    status = "FAIL" if failed else "PASS"
    detail = f"{_named(recipient)} verdict {status}" + (f": {'; '.join(failed)}" if failed else "")
    if status != cert.verdict.status:  # e.g. a looser limit: the reader must see the tier decided otherwise
        detail += f" (the certificate's own verdict, under the policy it states, is {cert.verdict.status})"
    report.add("recipient_policy", not failed, detail, integrity=False)
    return status


def _named(policy: Policy) -> str:
    """The tier and profile, the keys the policy file overrode (their values are not the tier's) and the sections
    it added (evidence requirements, secondary-metric gates)."""
    changed = sorted(policy.overrides)
    added = [name for name in ("evidence", "secondary") if getattr(policy, name) is not None]
    return (
        f"{policy.tier}/{policy.profile}"
        + (f" with overrides of {', '.join(changed)}" if changed else "")
        + (f" with the {' and '.join(added)} section{'s' if len(added) > 1 else ''}" if added else "")
    )


def _policy(cert: c.Certificate, report: VerifyReport) -> Policy | None:
    try:
        policy = policy_from_dict(cert.policy.resolved)
    except InvarlockError as exc:
        report.add("policy_digest", False, exc.message)
        return None
    extra = _unknown_key(cert.policy.resolved, msgspec.to_builtins(policy), "policy.resolved")
    if extra is not None:  # dropped by decoding, so outside the digest: a row the report would show unchecked
        report.add("policy_digest", False, extra)
        return policy
    if canonical_bytes(cert.policy.resolved) != canonical_bytes(policy):  # e.g. 2 for 2.0: the digest is of the policy
        report.add("policy_digest", False, "policy.resolved is not the canonical JSON of the policy it decodes to")
        return policy
    report.add("policy_digest", policy_digest(policy) == cert.policy.digest, "sha256 over the resolved policy")
    return policy


def _unknown_key(recorded: object, decoded: object, path: str) -> str | None:
    """What the first key of `recorded` that decoding it as a Policy dropped is, or None: a key no policy has, or
    a null where a policy without that section leaves the key out."""
    if not isinstance(recorded, dict) or not isinstance(decoded, dict):
        return None
    for key, value in recorded.items():
        if key not in decoded:
            said = (
                "is null: a policy without that section leaves the key out" if value is None else "is not a policy key"
            )
            return f"{path}.{key} {said}"
        deeper = _unknown_key(value, decoded[key], f"{path}.{key}")
        if deeper is not None:
            return deeper
    return None


def verify_certificate(
    cert: c.Certificate,
    *,
    recipient: Policy | None = None,
    store: EventStore | None = None,
    index: RunIndex | None = None,
    verifier: SignatureVerifier | None = None,
    require_signature: bool = False,
    raw: bytes | None = None,
    max_replicates: int = VERIFY_MAX_REPLICATES,
) -> VerifyReport:
    """Every check of docs/reference/certificate.md that applies; see VerifyReport.exit_code for the outcome.

    `verifier` is the recipient's trusted public key (`--pubkey`); `require_signature` fails unsigned certificates.
    `store` (verify --events) is checked with its run `index` when given (replay.event_findings).
    `raw`, the file's bytes, must be exactly the certificate's canonical encoding (no byte may differ).
    Raises UsageError E607 (before any allocation) when a bootstrap would exceed `max_replicates` replicates
    or VERIFY_MAX_BOOTSTRAP_CELLS cells.
    """
    report = integrity_checks(cert, verifier=verifier, require_signature=require_signature, raw=raw)
    policy = _policy(cert, report)
    if policy is None:
        return report
    try:
        bootstrap_budget(cert, [policy] + ([recipient] if recipient is not None else []), max_replicates)
    except UsageError as exc:
        if not altered(cert, report):  # the recipient's call to make: pass --max-replicates
            raise
        report.add("recompute", False, f"skipped: {exc.message}, and the certificate was altered after it was issued")
        return report
    _checks(cert, policy, recipient, report)
    if store is not None:
        for name, finding in event_findings(cert, store, verifier, required=require_signature, index=index):
            report.add(name, *finding)
    return report


def integrity_checks(
    cert: c.Certificate, *, verifier: SignatureVerifier | None, require_signature: bool, raw: bytes | None
) -> VerifyReport:
    """The checks that tell a certificate altered after it was issued: schema, canonical bytes, digest, signature."""
    report = VerifyReport()
    report.add("schema", True, f"certificate {cert.schema_version} decoded strictly")
    if raw is not None:
        report.add("canonical", *_canonical(c.to_bytes(cert), raw))
    digest = c.compute_digest(cert)
    stated = "" if digest == cert.digest else f": stated {cert.digest[:16]}…, the body hashes to {digest[:16]}…"
    report.add("digest", digest == cert.digest, f"sha256 over the canonical body{stated}")
    report.add("signature", *check_signature(cert, verifier, required=require_signature))
    return report


def altered(cert: c.Certificate, report: VerifyReport) -> bool:
    """Whether `report`'s integrity checks found `cert` altered: its bytes, its digest, or a signature it carries
    that does not verify (an unsigned certificate where one is required is not altered). Verify then still
    recomputes what it can, to name what was altered, but acts on nothing the certificate asks of the recipient:
    no plugin it names is required (E222), no bootstrap beyond the budget is refused as the recipient's input
    (E607): the certificate is void (exit 3) whatever those would say."""
    failed = {ch.name for ch in report.checks if not ch.ok}
    return bool(failed & {"canonical", "digest"}) or ("signature" in failed and cert.signature is not None)


def _canonical(encoded: bytes, raw: bytes) -> tuple[bool, str]:
    """Whether the file is byte for byte the canonical encoding, and where it first differs when not."""
    if encoded == raw:
        return True, "file is the canonical encoding"
    at = next((i for i, (a, b) in enumerate(zip(encoded, raw, strict=False)) if a != b), min(len(encoded), len(raw)))
    return False, (
        f"file bytes re-encoded: {len(raw)} bytes, the canonical encoding {len(encoded)}, first difference at "
        f"byte {at} (a reformatted file or an added newline; use the file invarlock wrote)"
    )


def _checks(cert: c.Certificate, policy: Policy, recipient: Policy | None, report: VerifyReport) -> None:
    kind = cert.primary_metric.kind
    if not known_kind(kind):
        report.add("primary_metric", False, f"unknown metric kind '{kind}' (known: {', '.join(METRICS)})")
        return
    if not fields.evidence_shapes(cert, report):
        report.add("recompute", False, "skipped: the evidence is malformed, nothing can be recomputed from it")
        return
    _recompute(cert, policy, report)
    _fields(cert, policy, report)
    verify_guards.guard_order(cert, policy, report)
    verify_guards.guards(cert, policy, report)
    verify_guards.overhead(cert, policy, report)
    report.verdict = _gates(cert, policy, report)
    if recipient is not None:
        report.verdict = _recipient_verdict(cert, recipient, report)
