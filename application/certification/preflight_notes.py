"""What the preflight says about a check that passed: notes, and warnings about a run that can start but will
not go as asked (arms shrunk under dev, a token floor the final arm cannot reach)."""

from __future__ import annotations

from invarlock.domain import diagnostics as d
from invarlock.domain import events as ev
from invarlock.domain.errors import UsageError
from invarlock.domain.gates import runnable_guards
from invarlock.domain.metrics import metric_for, token_floored
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
    tokens = f", {policy.gates.min_final_tokens} final-arm tokens" if token_floored(kind) else ""
    floors = f"at least {policy.min_windows} windows per arm{tokens}, {policy.replicates} bootstrap replicates"
    return d.note("policy", d.D_POLICY, f"{head}: {floors}")


def ungated_chain(policy: Policy, kind: str) -> list[d.Finding]:
    """A warning when guards.order leaves out a guard the policy gates that metric `kind` can run: its flag fails
    (domain/gates.py), so the verdict is FAIL whatever the scores."""
    runnable = runnable_guards(kind)
    missing = [name for name in policy.required_guards if name not in policy.guard_order and name in runnable]
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
            said = f"unknown {name} '{value}' (model.{name} or --{name})"  # the config's key or the flag
            raise UsageError("E104", said, f"use one of {', '.join(choices)}")
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
    kind = cfg.eval.metric.kind
    if token_floored(kind) and policy.enforce_floors:
        findings.extend(_token_floor(arms["final"], metric_for(kind).scored_tokens(plan.seq_len), policy))
    findings.extend(_calibration_short(arms["calibration"], cfg, policy))
    return findings + _padded_batches(cfg.eval.batch_size, max(arms.values()))


def _token_floor(windows: int, scored: tuple[int, str], policy: Policy) -> list[d.Finding]:
    """A warning when the final arm's tokens (each window's scored tokens: a causal LM's every position after the
    first, a masked LM's masked ones) miss the tier's floor."""
    (per_window, rule), floor = scored, policy.gates.min_final_tokens
    if windows * per_window >= floor:
        return []
    return [
        d.warning(
            "windows",
            d.D_TOKEN_FLOOR,
            f"the final arm scores {windows} × {per_window} = {windows * per_window} tokens ({rule}), below the "
            f"{policy.tier} floor of {floor}: the token_floor_met gate will fail",
            f"raise dataset.final_n to {-(-floor // per_window)} or dataset.seq_len",
        )
    ]


def _calibration_short(planned: int, cfg: RunConfig, policy: Policy) -> list[d.Finding]:
    """The variance guard's calibration arm, shrunk by dev below what the guard needs: E005 when it taps every FFN
    matrix (targets: all_ffn); a warning otherwise, since it needs them only when the edit changed one. It stopped
    the run with that E005 after both loads, the doctor saying it would start."""
    settings = policy.guards.variance
    if "variance" not in cfg.guards.order or planned >= settings.min_calibration_windows:
        return []
    short = (
        f"the variance guard needs >= {settings.min_calibration_windows} calibration windows, and the corpus gives "
        f"{planned} of the {cfg.dataset.calibration_n} asked (profile dev shrinks the arms to what it holds)"
    )
    fix = "use a larger corpus or a shorter dataset.seq_len, or drop variance from guards.order"
    if settings.targets == "all_ffn":
        raise UsageError("E005", short, fix)
    stops = f"{short}: the run stops with E005 if the edit changes an FFN matrix"
    return [d.warning("windows", d.D_CALIBRATION_SHORT, stops, fix)]


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
