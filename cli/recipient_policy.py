"""The verifier's own policy for `invarlock verify --tier T | --policy FILE`."""

from __future__ import annotations

from typing import Any

from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.policy import Policy, resolve_policy

from .config_file import read_yaml

POLICY_KEYS = ("tier", "profile", "overrides", "guards")


def recipient_policy(cert: c.Certificate, tier: str | None, profile: str | None, path: str | None) -> Policy | None:
    """None when the verifier brings no policy; otherwise the resolved tier/profile (+ overrides) to decide by."""
    if tier is not None and path is not None:
        raise UsageError("E200", "--tier and --policy both give a recipient policy", "pass one of them")
    default_profile = str(cert.policy.resolved.get("profile", "ci"))
    if path is None:
        kind = cert.primary_metric.kind
        return None if tier is None else resolve_policy(tier, profile or default_profile, metric_kind=kind)
    data = _policy_file(path)
    chosen_profile = str(data.get("profile", profile or default_profile))
    kind = cert.primary_metric.kind
    return resolve_policy(str(data["tier"]), chosen_profile, data["overrides"], data["guards"], metric_kind=kind)


def _policy_file(path: str) -> dict[str, Any]:
    data = read_yaml(path)
    example = (
        "e.g. `tier: conservative` and optionally `profile: release`, `overrides: {ratio_limit: 1.05}`, "
        "`guards: {spectral: {mode: gate}}`"
    )
    if not isinstance(data, dict) or "tier" not in data:
        raise UsageError("E201", f"{path}: a recipient policy needs a `tier:` key", example)
    unknown = sorted(set(data) - set(POLICY_KEYS))
    if unknown:
        raise UsageError("E201", f"{path}: unknown key '{unknown[0]}'", f"use only {', '.join(POLICY_KEYS)}")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise UsageError("E201", f"{path}: overrides must be a mapping of gate names to numbers", example)
    guards = data.get("guards") or {}
    if not isinstance(guards, dict) or not all(isinstance(v, dict) for v in guards.values()):
        raise UsageError(
            "E201", f"{path}: guards must map guard names to settings", "e.g. guards: {spectral: {mode: gate}}"
        )
    return {**data, "overrides": overrides, "guards": guards}
