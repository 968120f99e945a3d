"""Validation flags and the verdict (docs/reference/statistics.md §5). Missing values fail; they never pass.

The primary metric's flags come from its Metric (domain/metrics/); pairing, guards and overhead are here."""

from __future__ import annotations

from . import certificate as c
from .guards.sections import GuardSections, MeasuredSection, Section, VarianceSection
from .metrics import metric_for
from .metrics.answers import checked_flags
from .metrics.ppl_gates import floors
from .metrics.secondary import secondary_flags
from .model import ModelIdentity
from .policy import Policy
from .policy_releases import released_before


def _pairing(p: c.PairingSection, base: ModelIdentity, subj: ModelIdentity) -> tuple[bool, str]:
    if base.tokenizer_sha256 != subj.tokenizer_sha256:
        return False, "tokenizer digests differ"
    ok = p.match_fraction == 1.0 and p.overlap_fraction == 0.0 and p.reason is None
    return ok, f"match {p.match_fraction}, overlap {p.overlap_fraction}, reason {p.reason}"


GUARD_FLAGS = {
    "invariants": "invariants_pass",
    "spectral": "spectral_stable",
    "rmt": "rmt_stable",
    "variance": "variance_ok",
}


# The profile's floors every kind's arms and interval have; the token floor is a perplexity floor, the kind's own.
KIND_FREE_FLOORS = ("window_floor_met", "ci_not_approximate")


def _profile_floors(
    flags: dict[str, tuple[c.Flag, str]], pm: c.PrimaryMetric, policy: Policy
) -> dict[str, tuple[c.Flag, str]]:
    """The kind's flags, with the window floor and the exact interval held wherever the profile enforces them: a
    kind (a plugin's) that left them out or answered `not_applicable` passed ci/release on two windows."""
    if not policy.enforce_floors:
        return flags
    held = dict(flags)
    for name, (ok, why) in floors(pm, policy).items():
        said = held.get(name)
        answered = said is not None and type(said[0]) is bool
        if name in KIND_FREE_FLOORS and (not answered or (said is not None and said[0] is True and not ok)):
            held[name] = (ok, why)
    return held


def _named(section: Section) -> str:
    violations = section.violations[:3] if isinstance(section, MeasuredSection) else []
    return f" ({', '.join(v.name for v in violations)})" if violations else ""


# Since 0.3.11 a guard the metric kind cannot run is not applicable where the tier gates it (conservative gates
# variance: every encoder and accuracy certificate failed it); earlier releases' certificates keep the failed flag.
RUNNABLE_GUARDS_SINCE = (0, 3, 11)


def runnable_guards(kind: str) -> tuple[str, ...]:
    """The built-in guards a run of metric `kind` can evaluate: every one, but variance only where the evidence
    holds each model's NLL sums (its A/B pass compares them)."""
    per_model = metric_for(kind).per_model_scores
    return tuple(name for name in GUARD_FLAGS if per_model or name != "variance")


def _guard_flag(guards: GuardSections, name: str, policy: Policy, runnable: bool) -> tuple[c.Flag, str]:
    """A guard's flag: its verdict. A guard that did not run fails when the policy gates it (and the metric kind
    can run it) or its guard order names it; it is `not_applicable` only when neither holds (a monitored guard
    left out, a guard the kind cannot run)."""
    section = guards.of(name)
    if section is None:
        if name in policy.required_guards and runnable:
            return False, f"guard {name} is gated at tier {policy.tier} but did not run"
        if name in policy.guard_order:
            return False, f"guard {name} is in the guard order but was not evaluated"
        return "not_applicable", ""
    if isinstance(section, VarianceSection) and not _covers(section.measurements.targets, policy):
        asked, tapped = policy.guards.variance.targets, section.measurements.targets
        return False, f"guard variance tapped targets {tapped}, the policy asks {asked}"
    verdict = section.verdict
    return verdict == "pass", f"guard {name} verdict {verdict}{_named(section)}"


def _covers(tapped: str, policy: Policy) -> bool:
    """Whether the taps measured cover the policy's targets: the same, or every FFN tap (a superset)."""
    return tapped in (policy.guards.variance.targets, "all_ffn")


def plugin_flag(name: str) -> str:
    """The validation flag of the plugin guard `name`."""
    return f"plugin_guard_{name}_pass"


def _plugin_flags(guards: GuardSections, policy: Policy) -> tuple[dict[str, tuple[c.Flag, str]], set[str]]:
    """Each plugin guard's flag (its verdict; a guard the policy sets but that did not run fails unless it is
    monitored and out of the order) and the flags of those in monitor mode."""
    settings = policy.plugin_guards or {}
    checks: dict[str, tuple[c.Flag, str]] = {}
    monitored = set()
    for name in sorted(set(settings) | set(guards.plugins or {})):
        section = guards.of(name)
        mode = settings[name].mode if name in settings else section.mode if section is not None else "gate"
        if mode == "monitor":
            monitored.add(plugin_flag(name))
        if section is None:
            optional = mode == "monitor" and name not in policy.guard_order
            checks[plugin_flag(name)] = ("not_applicable", "") if optional else (False, f"guard {name} did not run")
        else:
            checks[plugin_flag(name)] = (section.verdict == "pass", f"guard {name} verdict {section.verdict}")
    return checks, monitored


def _overhead(overhead: c.GuardOverhead | None, policy: Policy) -> tuple[c.Flag, str]:
    if overhead is None:
        return "not_applicable", ""
    limit = policy.gates.guard_overhead_limit
    ok = overhead.ratio <= limit
    return ok, f"PM guarded / bare {overhead.ratio:.6f} > {limit}"


def scoring_dtypes(dtype: str) -> frozenset[str]:
    """The floating-point dtypes in a model identity's `dtype` ("float32", "bfloat16"; an ONNX model states
    its storage dtypes joined by "+", e.g. "float32+int8", whose integer part is the edit being certified)."""
    return frozenset(part for part in dtype.split("+") if part.startswith(("float", "bfloat")))


def evidence_flags(baseline: ModelIdentity, subject: ModelIdentity, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
    """`evidence_dtype_ok` when the policy requires a scoring dtype: both models were scored in it and in no
    other floating-point dtype. No flag without the requirement."""
    if policy.evidence is None:
        return {}
    want = policy.evidence.require_dtype
    roles = (("baseline", baseline), ("subject", subject))
    off = [f"{role} {m.dtype}" for role, m in roles if scoring_dtypes(m.dtype) != {want}]
    return {"evidence_dtype_ok": (not off, f"scored in {', '.join(off)}; the policy requires {want} evidence")}


def evaluate(
    pm: c.PrimaryMetric,
    pairing: c.PairingSection,
    guards: GuardSections,
    baseline: ModelIdentity,
    subject: ModelIdentity,
    policy: Policy,
    *,
    overhead: c.GuardOverhead | None,
    secondary: c.SecondaryMetrics | None = None,
    released: str | None = None,
) -> tuple[dict[str, c.Flag], c.VerdictSection]:
    """Every validation flag and the verdict; PASS iff every applicable flag holds. A guard in `monitor`
    mode (under `policy`) reports its flag but cannot fail the verdict; a guard the policy gates that did
    not run fails it, unless the metric kind cannot run it (under the rules of the tool version `released`
    that issued the certificate; None: this release's). The secondary-metric flags appear only with secondary
    metrics or secondary gates, the evidence dtype flag only when the policy requires a scoring dtype."""
    metric = metric_for(pm.kind)
    runnable = tuple(GUARD_FLAGS) if released_before(released, RUNNABLE_GUARDS_SINCE) else runnable_guards(pm.kind)
    checks: dict[str, tuple[c.Flag, str]] = {
        **_profile_floors(checked_flags(pm.kind, metric.flags(pm, policy)), pm, policy),
        "pairing_ok": _pairing(pairing, baseline, subject),
    }
    monitored = set()
    for guard, flag in GUARD_FLAGS.items():
        checks[flag] = _guard_flag(guards, guard, policy, guard in runnable)
        if policy.guards.mode_of(guard) == "monitor":
            monitored.add(flag)
    plugin_checks, plugin_monitored = _plugin_flags(guards, policy)
    checks.update(plugin_checks)
    monitored |= plugin_monitored
    checks["guard_overhead_acceptable"] = _overhead(overhead, policy)
    checks.update(secondary_flags(secondary, policy))
    checks.update(evidence_flags(baseline, subject, policy))
    catastrophe = metric.catastrophe(pm.preview, policy)
    flags: dict[str, c.Flag] = {name: ok for name, (ok, _) in checks.items()}
    flags["catastrophe"] = catastrophe is not None
    failed = [c.FailedFlag(flag=n, reason=why) for n, (ok, why) in checks.items() if ok is False and n not in monitored]
    if catastrophe is not None:
        failed.insert(0, c.FailedFlag(flag="catastrophe", reason=catastrophe))
    return flags, c.VerdictSection(status="FAIL" if failed else "PASS", failed=failed)


def of_certificate(cert: c.Certificate, policy: Policy) -> tuple[dict[str, c.Flag], c.VerdictSection]:
    """`evaluate` on the certificate's own metric, pairing, guards, models, overhead and secondary metrics, under
    the rules of the release that issued it."""
    return evaluate(
        cert.primary_metric,
        cert.pairing,
        cert.guards,
        cert.baseline,
        cert.subject,
        policy,
        overhead=cert.guard_overhead,
        secondary=cert.secondary_metrics,
        released=cert.tool.version,
    )
