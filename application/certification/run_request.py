"""What a certification is asked to do: the request, its policy, and the RunStarted event that records both."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import UsageError
from invarlock.domain.events_run import RUN_SEEDS
from invarlock.domain.gates import runnable_guards
from invarlock.domain.metrics import Metric, metric_for
from invarlock.domain.policy import (
    PROFILES,
    TIERS,
    VERIFY_MAX_BOOTSTRAP_CELLS,
    Policy,
    policy_digest,
    resolve_policy,
)
from invarlock.domain.run import RunState

from ..config import ModelConfig, RunConfig, config_to_dict, model_to_dict, parse_config
from ..services import Services
from .recorder import resume_mismatch


@dataclass(frozen=True)
class CertifyRequest:
    """What to certify: the config (baseline model, data, edit, guards) and, for Compare & Certify, a subject."""

    command: str
    config: RunConfig
    subject: ModelConfig | None
    tier: str
    profile: str
    export: str | None = None


@dataclass(frozen=True)
class CertifyOutcome:
    run_id: str
    certificate: c.Certificate


def policy_for(req: CertifyRequest) -> Policy:
    """The tier's policy with the config's guard overrides; UsageError E005 when the data cannot meet it."""
    guards = req.config.guards
    metric = metric_for(req.config.eval.metric.kind)
    policy = resolve_policy(
        req.tier,
        req.profile,
        guard_overrides=guards.overrides(),
        guard_order=guards.order,
        section=metric.policy_section,
        secondary_gate=req.config.eval.secondary.gate,
    )
    _check_rescoring(req, metric, policy)
    ds = req.config.dataset
    if policy.enforce_floors and min(ds.preview_n, ds.final_n) < policy.min_windows:
        raise UsageError(
            "E005",
            f"profile {req.profile} at tier {req.tier} needs >= {policy.min_windows} windows "
            f"per arm (config asks preview_n={ds.preview_n}, final_n={ds.final_n})",
            "raise dataset.preview_n/final_n or use --profile dev",
        )
    order = req.config.guards.order
    _check_bootstrap_cells(policy, ds.preview_n, ds.final_n, ds.calibration_n if "variance" in order else 0)
    missing = [g for g in runnable_guards(metric.kind) if g != "invariants" and g not in order]
    if req.profile == "release" and missing:
        raise UsageError(
            "E005", f"profile release evaluates every guard; guards.order lacks {', '.join(missing)}", "add them"
        )
    need = policy.guards.variance.min_calibration_windows
    if "variance" in order and ds.calibration_n < need:
        raise UsageError(
            "E005",
            f"the variance guard needs dataset.calibration_n >= {need} (config asks {ds.calibration_n})",
            f"set dataset.calibration_n to {need} or more, or drop variance from guards.order",
        )
    return policy


def policy_naming_file(req: CertifyRequest, config_file: str | None) -> Policy:
    """policy_for, where an E202 of the config's own settings names `config_file`: with a tier and profile
    that exist (a flag may name them), every E202 left is the file's."""
    try:
        return policy_for(req)
    except UsageError as exc:
        if exc.code == "E202" and config_file is not None and req.tier in TIERS and req.profile in PROFILES:
            raise exc.within(config_file) from exc
        raise


def _check_bootstrap_cells(policy: Policy, *arms: int) -> None:
    """E005 when an arm is so large that its bootstrap exceeds the replicate × window cells verify and replay
    spend: no recipient could check the certificate (a release run of 3 200 final windows was issued, then refused
    by its own verify and called altered by replay)."""
    largest = max(arms)
    if policy.replicates * largest > VERIFY_MAX_BOOTSTRAP_CELLS:
        most = VERIFY_MAX_BOOTSTRAP_CELLS // policy.replicates
        raise UsageError(
            "E005",
            f"an arm of {largest} windows with {policy.replicates} bootstrap replicates ({policy.tier}/"
            f"{policy.profile}) exceeds the {VERIFY_MAX_BOOTSTRAP_CELLS} cells verify spends: no recipient could "
            "verify the certificate",
            f"plan at most {most} windows per arm (dataset.preview_n, final_n, calibration_n) or use longer windows",
        )


def _check_rescoring(req: CertifyRequest, metric: Metric, policy: Policy) -> None:
    """A kind whose evidence has no per-model NLL sums cannot run what rescores them (UsageError E005)."""
    if metric.per_model_scores:
        return
    kind = f"eval.metric.kind {metric.kind} records no per-model NLL sums"
    if "variance" in req.config.guards.order:
        raise UsageError(
            "E005", f"{kind}, which the variance guard's A/B pass compares", "drop variance from guards.order"
        )
    if policy.guards.spectral.repair:
        raise UsageError(
            "E005", f"{kind}, which the guard-overhead check of a repair compares", "set guards.spectral.repair: false"
        )


def started_event(req: CertifyRequest, policy: Policy, run_id: str, svc: Services) -> ev.RunStarted:
    config = config_to_dict(req.config)
    if req.subject is not None:
        config["subject"] = model_to_dict(req.subject)
    seed = req.config.dataset.seed
    return ev.RunStarted(
        run_id=run_id,
        command=req.command,
        started_at=svc.clock(),
        tool_version=svc.tool_version,
        config=config,
        policy=policy,
        policy_digest=policy_digest(policy),
        seeds=dict.fromkeys(RUN_SEEDS, seed),
        environment=svc.environment(),
    )


def request_of(state: RunState, export: str | None) -> tuple[CertifyRequest, Policy]:
    """The request and the policy exactly as the run recorded them (E605 if the policy digest disagrees)."""
    started = state.started
    config = dict(started.config)
    subject = config.pop("subject", None)
    cfg = parse_config(config, source=f"run {started.run_id}", as_written=False)
    policy = started.policy
    if policy_digest(policy) != started.policy_digest:
        raise resume_mismatch(started.run_id, "its recorded policy does not match its policy digest")
    request = CertifyRequest(
        command=started.command,
        config=cfg,
        subject=msgspec.convert(subject, ModelConfig) if subject else None,
        tier=policy.tier,
        profile=policy.profile,
        export=export,
    )
    return request, policy
