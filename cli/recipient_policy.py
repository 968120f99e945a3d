"""The verifier's own policy for `invarlock verify --tier T | --policy FILE`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from invarlock.application.verification.verify_fields import unresolved_field
from invarlock.application.verification.verify_report import dig
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import known_kind, metric_for
from invarlock.domain.policy import EVIDENCE_DTYPES, EvidencePolicy, Policy, resolve_policy
from invarlock.domain.policy_overrides import PROFILE_UNREAD_GATES

from .config_file import read_yaml

POLICY_KEYS = ("tier", "profile", "overrides", "guards", "evidence", "secondary")


PolicySource = str | Mapping[str, Any] | Policy | None


def recipient_policy(cert: c.Certificate, tier: str | None, profile: str | None, source: PolicySource) -> Policy | None:
    """None when the verifier brings no policy; otherwise the resolved tier/profile (+ overrides) to decide by.
    The recipient's tier gates KL and top-1 agreement where the certificate's policy did (as its profile, kept
    unless the policy file's `secondary: {gate: …}` says otherwise).

    `source` is a YAML file's path, the same mapping ({tier, profile, overrides, guards, evidence, secondary}) or a
    resolved Policy."""
    if tier is not None and source is not None:
        raise UsageError("E200", "--tier and --policy both give a recipient policy", "pass one of them")
    if profile is not None and (source is None or isinstance(source, Policy)) and tier is None:
        raise UsageError(
            "E200", f"--profile {profile} applies to --tier, which re-decides the certificate under your policy",
            f"pass --tier T --profile {profile}, or leave --profile out to keep the certificate's policy",
        )  # fmt: skip
    if isinstance(source, Policy):
        return _checked_object(source)
    default_profile = str(cert.policy.resolved.get("profile", "ci"))
    recorded = _plugin_guards(cert)
    if source is None:
        chosen = profile or default_profile
        if tier is None:
            return None
        section = _section(cert.primary_metric.kind)
        return resolve_policy(tier, chosen, guard_overrides=recorded, section=section, secondary_gate=_gated(cert))
    where = source if isinstance(source, str) else "the policy"
    data = _policy_file(source) if isinstance(source, str) else _policy_data(dict(source), where)
    if profile is not None and "profile" in data and str(data["profile"]) != profile:
        raise UsageError(
            "E200", f"--profile {profile} and {where}'s profile: {data['profile']} disagree",
            f"leave --profile out, or set profile: {profile} in {where}",
        )  # fmt: skip
    chosen_profile = str(data.get("profile", profile or default_profile))
    _refuse_repair(cert, data["guards"], where)
    guards = {**recorded, **{k: {**recorded.get(k, {}), **v} for k, v in data["guards"].items()}}
    tier_name, overrides, evidence = str(data["tier"]), data["overrides"], data["evidence"]
    section = _section(cert.primary_metric.kind)
    gated = _gated(cert) if data["secondary"] is None else data["secondary"]
    try:
        resolved = resolve_policy(
            tier_name, chosen_profile, overrides, guards, section=section, secondary_gate=gated, evidence=evidence
        )
    except UsageError as exc:  # a tier, override or guard setting the file gives: name the file it is in
        raise exc.within(where) from None
    _refuse_unread(overrides, chosen_profile, where, "profile" in data)
    return resolved


def _checked_object(given: Policy) -> Policy:
    """A Policy object passed to the API, as strictly as the same mapping: a tier's table plus its overrides. Taken
    unchecked, a None section raised a bare TypeError and a made-up tier decided PASS (the Python API hunt)."""
    hint = "pass a policy mapping ({tier, profile, overrides, guards, ...}) or a Policy that resolve_policy returned"
    try:
        policy = msgspec.convert(msgspec.to_builtins(given), Policy)
        where = unresolved_field(policy)
    except (msgspec.ValidationError, UsageError, TypeError, ValueError) as exc:
        raise UsageError("E202", f"the Policy given is not a valid policy: {exc}", hint) from None
    if where is not None:
        raise UsageError("E202", f"the Policy given: {where} is not the {policy.tier} tier plus its overrides", hint)
    return policy


def _refuse_unread(overrides: Mapping[str, Any], profile: str, where: str, stated: bool) -> None:
    """E202 for an override the chosen profile never reads: a floor under dev, or the other profile's count (the
    forger hunt: `min_final_tokens: 100000` decided a dev certificate of 1,524 tokens PASS, and said nothing)."""
    unread = [key for key in PROFILE_UNREAD_GATES.get(profile, ()) if key in overrides]
    if unread:
        whose = "" if stated else ", the certificate's (your policy names none)"
        raise UsageError(
            "E202",
            f"{where}: override '{unread[0]}' gates nothing under the {profile} profile{whose}",
            "set the profile whose floors you mean in the policy (`profile: ci` or `profile: release`), or drop it",
        )


def _refuse_repair(cert: c.Certificate, guards: dict[str, Any], where: str) -> None:
    """E202 for a `guards.spectral.repair` other than the certificate's: a repair is what a run does to its subject
    before scoring it, which a verdict re-decided from the evidence cannot do (it was accepted and changed
    nothing; the forger hunt)."""
    spectral = guards.get("spectral", {})
    recorded = dig(cert.policy.resolved, "guards", "spectral", "repair")
    if "repair" in spectral and spectral["repair"] != recorded:
        raise UsageError(
            "E202",
            f"{where}: guards.spectral.repair {spectral['repair']!r} differs from the certificate's {recorded!r}",
            "a repair changes the subject before it is scored: certify again with it; drop it from your policy",
        )


def _section(kind: str) -> str | None:
    """The kind's own gates, to resolve at the recipient's tier. An unknown kind has none: a certificate whose
    kind no installed plugin supplies was refused before (E222) when its provenance names the plugin, so this one's
    kind was altered, and verify fails it as an integrity finding (exit 3) rather than as a usage error here."""
    return metric_for(kind).policy_section if known_kind(kind) else None


def _gated(cert: c.Certificate) -> bool:
    """Whether the certificate's policy gated KL and top-1 agreement (run config `eval.secondary.gate: true`)."""
    return cert.policy.resolved.get("secondary") is not None


def _plugin_guards(cert: c.Certificate) -> dict[str, dict[str, object]]:
    """The certificate's plugin guard settings as guards.<name> sections: a tier holds no plugin thresholds, so
    the recipient's policy keeps them unless its own guards.<name> section overrides them."""
    recorded = cert.policy.resolved.get("plugin_guards")
    if not isinstance(recorded, dict):
        return {}
    out: dict[str, dict[str, object]] = {}
    for name, value in recorded.items():
        if isinstance(value, dict) and isinstance(value.get("settings"), dict):
            out[str(name)] = {"mode": value.get("mode"), **value["settings"]}
    return out


def _policy_file(path: str) -> dict[str, Any]:
    return _policy_data(read_yaml(path, what="policy file", option="--policy"), path)


def _policy_data(data: Any, path: str) -> dict[str, Any]:
    example = (
        "e.g. `tier: conservative` and optionally `profile: release`, `overrides: {ratio_limit: 1.05}`, "
        "`guards: {spectral: {mode: gate}}`"
    )
    if not isinstance(data, dict) or "tier" not in data:
        raise UsageError("E201", f"{path}: a recipient policy needs a `tier:` key", example)
    unknown = sorted(set(data) - set(POLICY_KEYS), key=str)  # YAML keys may be numbers, null or dates too
    if unknown:
        raise UsageError("E201", f"{path}: unknown key '{unknown[0]}'", f"use only {', '.join(POLICY_KEYS)}")
    overrides = {} if data.get("overrides") is None else data["overrides"]  # `overrides:` left empty: none
    if not isinstance(overrides, dict):
        raise UsageError("E201", f"{path}: overrides must be a mapping of gate names to numbers", example)
    # as given: the loader reads `1e-4` as a number (config_file._Loader), and quoted text ('1_000') is no number
    overrides = dict(overrides)
    guards = {} if data.get("guards") is None else data["guards"]
    if not isinstance(guards, dict) or not all(isinstance(v, dict) for v in guards.values()):
        raise UsageError(
            "E201", f"{path}: guards must map guard names to settings", "e.g. guards: {spectral: {mode: gate}}"
        )
    evidence, secondary = _evidence(data.get("evidence"), path), _secondary(data.get("secondary"), path)
    return {**data, "overrides": overrides, "guards": guards, "evidence": evidence, "secondary": secondary}


def _secondary(data: Any, path: str) -> bool | None:
    """The policy file's `secondary: {gate: true|false}`: whether your tier gates KL and top-1 agreement (None:
    as the certificate's policy did)."""
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) != {"gate"} or not isinstance(data["gate"], bool):
        raise UsageError("E201", f"{path}: secondary must be {{gate: true | false}}", "e.g. secondary: {gate: true}")
    return data["gate"]


def _evidence(data: Any, path: str) -> EvidencePolicy | None:
    """The policy file's `evidence:` section, e.g. `evidence: {require_dtype: float32}`."""
    if data is None:
        return None
    dtypes = " | ".join(EVIDENCE_DTYPES)
    if not isinstance(data, dict) or set(data) != {"require_dtype"} or data["require_dtype"] not in EVIDENCE_DTYPES:
        raise UsageError(
            "E201", f"{path}: evidence must be {{require_dtype: {dtypes}}}", "e.g. evidence: {require_dtype: float32}"
        )
    return EvidencePolicy(require_dtype=str(data["require_dtype"]))
