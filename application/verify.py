"""verify_certificate: recompute everything a certificate states from its own evidence (no models needed)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec
from invarlock.domain import analysis, gates
from invarlock.domain import certificate as c
from invarlock.domain.errors import EXIT_GATES_FAILED, EXIT_INTEGRITY, EXIT_OK, InvarlockError
from invarlock.domain.guards import chain, invariants
from invarlock.domain.policy import Policy, policy_digest, policy_from_dict
from invarlock.domain.windows import PlannedWindow, plan_digest
from invarlock.ports.signing import SignatureVerifier
from invarlock.ports.store import EventStore

from .replay import replay_certificate
from .signing import check_signature

REL_TOL = 1e-12
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    integrity: bool = True


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)
    verdict: str | None = None

    @property
    def ok(self) -> bool:
        return all(ch.ok for ch in self.checks)

    @property
    def exit_code(self) -> int:
        if any(not ch.ok and ch.integrity for ch in self.checks):
            return EXIT_INTEGRITY
        return EXIT_GATES_FAILED if self.verdict != "PASS" or not self.ok else EXIT_OK

    def add(self, name: str, ok: bool, detail: str, integrity: bool = True) -> bool:
        self.checks.append(Check(name, ok, detail, integrity))
        return ok


def _diff(stated: Any, recomputed: Any, path: str) -> str | None:
    """First difference between two plain values; floats too must match bit for bit (JSON keeps every bit)."""
    if isinstance(stated, dict) and isinstance(recomputed, dict):
        if stated.keys() != recomputed.keys():
            return path
        return next((d for k in stated if (d := _diff(stated[k], recomputed[k], f"{path}.{k}"))), None)
    if isinstance(stated, list) and isinstance(recomputed, list):
        if len(stated) != len(recomputed):
            return path
        return next(
            (d for i, (a, b) in enumerate(zip(stated, recomputed, strict=True)) if (d := _diff(a, b, f"{path}[{i}]"))),
            None,
        )
    return None if stated == recomputed and type(stated) is type(recomputed) else path


def _compare(report: VerifyReport, name: str, stated: Any, recomputed: Any) -> bool:
    where = _diff(msgspec.to_builtins(stated), msgspec.to_builtins(recomputed), name)
    return report.add(name, where is None, "recomputed from evidence" if where is None else f"mismatch at {where}")


def _recompute(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    ev_, ds, seed = cert.evidence, cert.dataset, cert.bootstrap.seed
    try:
        pm = analysis.primary_metric(ev_, seed=seed, plan_digest=ds.window_plan_digest, policy=policy)
        boot = analysis.bootstrap_section(ev_, seed=seed, plan_digest=ds.window_plan_digest, policy=policy)
        pairing = analysis.pairing_section(ev_, ds)
    except InvarlockError as exc:
        report.add("recompute", False, f"evidence cannot be recomputed: {exc.message}")
        return
    _compare(report, "primary_metric", cert.primary_metric, pm)
    _compare(report, "bootstrap", cert.bootstrap, boot)
    _compare(report, "pairing", cert.pairing, pairing)
    _window_plan(cert, report)
    if cert.primary_metric.final is not None:
        f = cert.primary_metric.final
        identity = math.isclose(f.ratio, math.exp(f.delta_mean), rel_tol=REL_TOL) and math.isclose(
            f.ratio, f.subject_ppl / f.baseline_ppl, rel_tol=1e-9
        )
        report.add("ratio_identity", identity, "ratio = exp(mean delta) = PPL_s / PPL_b")


def _calibration_rows(cert: c.Certificate) -> list[PlannedWindow] | None:
    """The calibration arm's plan rows, which the variance guard records; None when no guard holds them."""
    want = cert.dataset.windows.calibration
    if not want:
        return []
    calibration = cert.guards.get("variance", {}).get("measurements", {}).get("calibration", {})
    ids, digests = calibration.get("window_ids", []), calibration.get("window_digests", [])
    if len(ids) != want or len(digests) != want:
        return None
    return [PlannedWindow(window_id=i, arm="calibration", digest=d) for i, d in zip(ids, digests, strict=True)]


def _window_plan(cert: c.Certificate, report: VerifyReport) -> None:
    """The plan digest binds every window id and content digest: recompute it when the certificate holds
    every arm of the plan (the calibration arm is held by the variance guard's section)."""
    ev_, ds = cert.evidence, cert.dataset
    calibration = _calibration_rows(cert)
    if ev_.final is None or calibration is None:
        report.add("window_plan", True, "not recomputable: the evidence lacks an unscored arm", integrity=False)
        return
    rows = [
        PlannedWindow(window_id=i, arm=arm, digest=d)
        for arm, section in (("preview", ev_.preview), ("final", ev_.final))
        for i, d in zip(section.window_ids, section.window_digests, strict=True)
    ] + calibration
    same = plan_digest(rows) == ds.window_plan_digest
    report.add("window_plan", same, "plan digest recomputed from evidence" if same else "window ids or digests altered")


def _derived(cert: c.Certificate, name: str, section: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """A measured guard's outcome re-derived from its recorded measurements under `policy`."""
    return chain.derive(
        name,
        section.get("measurements", {}),
        policy,
        seed=cert.bootstrap.seed,
        plan_digest=cert.dataset.window_plan_digest,
    )


def rederived_sections(cert: c.Certificate, policy: Policy) -> dict[str, dict[str, Any]]:
    """Every guard section with its outcome (verdict included) re-derived under `policy`."""
    out = {}
    for name, section in cert.guards.items():
        if name in chain.MEASURED_GUARDS:
            section = {**section, **_derived(cert, name, section, policy), "mode": policy.guards[name]["mode"]}
        out[name] = section
    return out


def _measured_guard(
    cert: c.Certificate, name: str, section: dict[str, Any], policy: Policy, report: VerifyReport
) -> None:
    try:
        derived = _derived(cert, name, section, policy)
    except (InvarlockError, *_MALFORMED) as exc:
        report.add(f"guard:{name}", False, f"measurements cannot be re-derived: {exc}")
        return
    stated = {key: section.get(key) for key in derived}
    where = _diff(msgspec.to_builtins(stated), msgspec.to_builtins(derived), f"guards.{name}")
    mode_ok = section.get("mode") == policy.guards[name]["mode"]
    ok = where is None and mode_ok
    detail = "outcome re-derived from recorded measurements" if ok else f"guard outcome altered at {where or 'mode'}"
    report.add(f"guard:{name}", ok, detail)


def _guards(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    for name, section in cert.guards.items():
        if name in chain.MEASURED_GUARDS:
            _measured_guard(cert, name, section, policy, report)
            continue
        phases = section.get("phases", {})
        derived = [invariants.verdict_of(p.get("checks", [])) for p in phases.values()] if name == "invariants" else []
        stated = [p.get("verdict") for p in phases.values()]
        overall = "fail" if "fail" in stated else "pass"
        ok = (not derived or derived == stated) and section.get("verdict") == overall
        report.add(f"guard:{name}", ok, "verdicts re-derived from recorded checks" if ok else "guard verdict altered")


def _order(cert: c.Certificate) -> list[str]:
    guards = cert.provenance.config.get("guards", {})
    order = guards.get("order", []) if isinstance(guards, dict) else []
    return [str(name) for name in order] if isinstance(order, list) else []


def _overhead(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    stated, final = cert.guard_overhead, cert.evidence.final
    repaired = sorted({n for g, s in cert.guards.items() for n in chain.repairs_of(g, s)})
    if stated is None or final is None:
        ok = stated is None and (not repaired or final is None)
        report.add("guard_overhead", ok, "no repair, nothing to measure" if ok else "repairs without overhead")
        return
    try:
        recomputed = analysis.guard_overhead(
            final, stated.bare_subject_nll, repaired, policy.gates.guard_overhead_limit
        )
    except InvarlockError as exc:
        report.add("guard_overhead", False, f"cannot be recomputed: {exc.message}")
        return
    _compare(report, "guard_overhead", stated, recomputed)


def _gates(cert: c.Certificate, policy: Policy, report: VerifyReport, label: str) -> str:
    flags, verdict = gates.evaluate(
        cert.primary_metric,
        cert.pairing,
        cert.guards,
        cert.baseline,
        cert.subject,
        policy,
        order=_order(cert),
        overhead=cert.guard_overhead,
    )
    if label == "gates":
        _compare(report, "validation", cert.validation, flags)
        _compare(report, "verdict", cert.verdict, verdict)
    return verdict.status


def _recipient_verdict(cert: c.Certificate, recipient: Policy, report: VerifyReport) -> str:
    """Decide under the verifier's policy: the interval is recomputed with ITS replicates and alpha."""
    ev_, plan = cert.evidence, cert.dataset.window_plan_digest
    failed: list[str] = []
    arms = [len(ev_.preview.window_ids)] + ([len(ev_.final.window_ids)] if ev_.final is not None else [])
    if recipient.enforce_floors and min(arms) < recipient.min_windows:
        failed.append(f"window floor: {min(arms)} windows in an arm < {recipient.min_windows}")
    try:
        pm = analysis.primary_metric(ev_, seed=cert.bootstrap.seed, plan_digest=plan, policy=recipient)
    except InvarlockError as exc:
        failed.append(f"recompute: {exc.message}")
    else:
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
            order=_order(cert),
            overhead=overhead,
        )
        failed += [f"{f.flag} ({f.reason})" for f in verdict.failed]
    status = "FAIL" if failed else "PASS"
    detail = f"{recipient.tier}/{recipient.profile} verdict {status}" + (f": {'; '.join(failed)}" if failed else "")
    report.add("recipient_policy", not failed, detail, integrity=False)
    return status


def verify_certificate(
    cert: c.Certificate,
    *,
    recipient: Policy | None = None,
    store: EventStore | None = None,
    verifier: SignatureVerifier | None = None,
    require_signature: bool = False,
    raw: bytes | None = None,
) -> VerifyReport:
    """Every check of CERTIFICATE.md §2 that applies; see VerifyReport.exit_code for the outcome.

    `verifier` is the recipient's trusted public key (`--pubkey`); `require_signature` fails unsigned certificates.
    `raw`, the file's bytes, must be exactly the certificate's canonical encoding (no byte may differ).
    """
    report = VerifyReport()
    report.add("schema", True, "certificate v1 decoded strictly")
    if raw is not None:
        canonical = c.to_bytes(cert) == raw
        report.add("canonical", canonical, "file is the canonical encoding" if canonical else "file bytes re-encoded")
    report.add("digest", c.compute_digest(cert) == cert.digest, "sha256 over the canonical body")
    report.add("signature", *check_signature(cert, verifier, required=require_signature))
    try:
        policy = policy_from_dict(cert.policy.resolved)
    except InvarlockError as exc:
        report.add("policy_digest", False, exc.message)
        return report
    report.add("policy_digest", policy_digest(policy) == cert.policy.digest, "sha256 over the resolved policy")
    _recompute(cert, policy, report)
    try:
        _guards(cert, policy, report)
        _overhead(cert, policy, report)
        report.verdict = _gates(cert, policy, report, "gates")
        if recipient is not None:
            report.verdict = _recipient_verdict(cert, recipient, report)
    except _MALFORMED as exc:  # guard sections are free-form JSON: a section of the wrong shape was altered
        report.add("guards", False, f"a guard section is malformed ({type(exc).__name__}: {exc})")
    if store is not None:
        _events(cert, store, report)
    return report


def _events(cert: c.Certificate, store: EventStore, report: VerifyReport) -> None:
    try:
        replayed = replay_certificate(store, cert.run_id)
    except InvarlockError as exc:
        report.add("events", False, exc.message)
        return
    same = c.to_bytes(replayed) == c.to_bytes(cert)
    report.add("events", same, "chain intact, replay rebuilds identical bytes" if same else "replay differs")
