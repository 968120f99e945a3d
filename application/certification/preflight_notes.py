"""What the preflight says about a check that passed: notes, and warnings about a run that can start but will
not go as asked (arms shrunk under dev, a token floor the final arm cannot reach)."""

from __future__ import annotations

from invarlock.domain import diagnostics as d
from invarlock.domain import events as ev
from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import PPL_CAUSAL
from invarlock.domain.model import DEVICE_MAPS
from invarlock.domain.policy import Policy
from invarlock.domain.system_facts import DeviceSupport

from ..config import ModelConfig, RunConfig

_AUTO_ORDER = ("cuda", "mps", "cpu")  # what device auto picks, as the model loader does


def policy_note(policy: Policy, kind: str) -> d.Finding:
    """The tier and profile and the floors the data must meet under them."""
    head = f"tier {policy.tier}, profile {policy.profile}"
    if not policy.enforce_floors:
        return d.note("policy", d.D_POLICY, f"{head}: no window or token floor (arms may shrink to 2 windows)")
    tokens = f", {policy.gates.min_final_tokens} final-arm tokens" if kind == PPL_CAUSAL.kind else ""
    floors = f"at least {policy.min_windows} windows per arm{tokens}, {policy.replicates} bootstrap replicates"
    return d.note("policy", d.D_POLICY, f"{head}: {floors}")


def ungated_chain(policy: Policy) -> list[d.Finding]:
    """A warning when guards.order leaves out a guard the policy gates: its flag fails (domain/gates.py), so the
    verdict is FAIL whatever the scores."""
    missing = [name for name in policy.required_guards if name not in policy.guard_order]
    if not missing:
        return []
    names = ", ".join(missing)
    return [
        d.warning(
            "policy",
            d.D_UNGATED_CHAIN,
            f"guards.order leaves out {names}, which tier {policy.tier} gates: the verdict will be FAIL",
            f"add {names} to guards.order, or set {' and '.join(f'guards.{n}.mode: monitor' for n in missing)}",
        )
    ]


def device_findings(model: ModelConfig, support: DeviceSupport) -> list[d.Finding]:
    """E104 for an unknown dtype or device, or a device not present; else a note of what will run."""
    for name, value, choices in (("dtype", model.dtype, support.dtypes), ("device", model.device, support.known)):
        if value not in choices:
            raise UsageError("E104", f"unknown {name} '{value}'", f"use one of {', '.join(choices)}")
    if model.device != "auto" and model.device not in support.available:
        raise UsageError("E104", f"device '{model.device}' is not available here", "use --device auto or cpu")
    if model.device_map is not None:
        return [_placement_note(model)]
    device = model.device if model.device != "auto" else next(x for x in _AUTO_ORDER if x in support.available)
    chosen = f"device {model.device}" + (f" (here: {device})" if model.device == "auto" else "")
    findings = [d.note("device", d.D_DEVICE, f"{chosen}, dtype {model.dtype}")]
    if device == "cuda" and model.dtype == "bfloat16" and not support.cuda_bf16:
        findings.append(
            d.warning("device", d.D_DEVICE, "this GPU does not compute in bfloat16 natively", "use --dtype float16")
        )
    return findings


def _placement_note(model: ModelConfig) -> d.Finding:
    """The device map the loader will use (E104 for an unknown map, or a device given beside it)."""
    if model.device_map not in DEVICE_MAPS:
        raise UsageError("E104", f"unknown model.device_map '{model.device_map}'", f"use {' or '.join(DEVICE_MAPS)}")
    if model.device != "auto":
        raise UsageError(
            "E104", f"model.device '{model.device}' and model.device_map both place the model", "leave device at auto"
        )
    caps = f", max_memory {model.max_memory}" if model.max_memory else ""
    return d.note("device", d.D_DEVICE, f"device_map {model.device_map}{caps}, dtype {model.dtype}")


def window_findings(planned: ev.WindowsPlanned, cfg: RunConfig, policy: Policy) -> list[d.Finding]:
    """A note of the plan; a warning when dev shrank the arms or the final arm misses the tier's token floor."""
    plan, ds = planned.plan, cfg.dataset
    arms = {arm: len(plan.arm(arm)) for arm in ("preview", "final", "calibration")}
    sizes = ", ".join(f"{arm} {n}" for arm, n in arms.items())
    where = f"corpus {planned.corpus.provider} ({planned.corpus.split})"
    found = f"{where}: {plan.stream_tokens} tokens, {plan.windows_available} distinct windows of {plan.seq_len}"
    findings = [d.note("windows", d.D_WINDOWS, f"{found}; planned {sizes}")]
    if plan.approximate_counts:
        asked = f"preview {ds.preview_n}, final {ds.final_n}, calibration {ds.calibration_n}"
        findings.append(
            d.warning(
                "windows",
                d.D_SHRUNK,
                f"profile dev shrinks the arms to {sizes} (asked {asked})",
                "use a larger corpus or a shorter seq_len for the windows asked",
            )
        )
    tokens = arms["final"] * (plan.seq_len - 1)  # a causal LM scores every position after the first
    floor = policy.gates.min_final_tokens
    if cfg.eval.metric.kind == PPL_CAUSAL.kind and policy.enforce_floors and tokens < floor:
        findings.append(
            d.warning(
                "windows",
                d.D_TOKEN_FLOOR,
                f"the final arm scores {arms['final']} × {plan.seq_len - 1} = {tokens} tokens, below the "
                f"{policy.tier} floor of {floor}: the token_floor_met gate will fail",
                f"raise dataset.final_n to {-(-floor // (plan.seq_len - 1))} or dataset.seq_len",
            )
        )
    return findings + _padded_batches(cfg.eval.batch_size, max(arms.values()))


def _padded_batches(batch_size: int | None, largest: int) -> list[d.Finding]:
    """A warning when every forward pass is padded to more windows than any arm holds (padding keeps a window's
    bits the same in every batch: adapters/window_batches.py), so each pass computes windows no arm has."""
    if batch_size is None or batch_size <= largest:
        return []
    return [
        d.warning(
            "windows",
            d.D_PADDED_BATCHES,
            f"eval.batch_size {batch_size} pads every forward pass to {batch_size} windows; the largest arm holds "
            f"{largest}",
            f"set eval.batch_size to {largest} or less (or leave it out for the adapter's default)",
        )
    ]
