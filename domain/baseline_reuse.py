"""Baseline score reuse: the key that proves two runs score their baseline identically, and the certificate's
statement of where each arm's baseline scores came from (docs/reference/baseline-reuse.md)."""

from __future__ import annotations

from typing import Any

import msgspec

from . import certificate as c
from . import events as ev
from .canonical import canonical_bytes, sha256_hex
from .errors import IntegrityError
from .run import RunState

KEY_VERSION = 1


def key_parts(state: RunState, planned: ev.WindowsPlanned | None = None) -> dict[str, Any]:
    """What a baseline's per-window scores depend on, as the run recorded it (`planned`: the window plan before
    the run records it, in a sequential run's baseline pass).

    The baseline's identity (weights, tokenizer and config digests, adapter, dtype, device, runtime), the
    window plan and corpus (every window's digest), how the baseline was loaded and batched (`model` config,
    `eval.batch_size`), what is scored (`eval.metric`), the dataset seed (masked-LM masks), the environment
    (library versions, platform, CPU count, threads: the device class) and the tool version.

    Raises:
        IntegrityError: E604 when the run has no baseline fingerprint or window plan yet.
    """
    started, config = state.started, state.started.config
    evaluation = config.get("eval", {})
    return {
        "key_version": KEY_VERSION,
        "tool_version": started.tool_version,
        "environment": started.environment,
        "dataset_seed": started.seeds.get("dataset"),
        "model": config.get("model"),
        "batch_size": evaluation.get("batch_size"),
        "metric": evaluation.get("metric"),
        "baseline": msgspec.to_builtins(_baseline(state).identity),
        "windows": msgspec.to_builtins(planned if planned is not None else state.planned()),
    }


def scoring_key(state: RunState, planned: ev.WindowsPlanned | None = None) -> str:
    """sha256 over the canonical JSON of `key_parts(state, planned)`: equal keys mean identical baseline scoring."""
    return sha256_hex(canonical_bytes(key_parts(state, planned)))


def _baseline(state: RunState) -> ev.ModelFingerprinted:
    baseline = state.models.get("baseline")
    if baseline is None:
        raise IntegrityError("E604", f"run {state.started.run_id} has no baseline fingerprint yet", "report this bug")
    return baseline


def baseline_scoring(state: RunState) -> list[c.BaselineScoring] | None:
    """The certificate's provenance.baseline_scoring: one entry per arm whose baseline was reused or whose
    earlier scoring was found but not reused; None when no earlier scoring was found."""
    sections = [_section(e) for e in state.baseline_sources]
    return sections or None


def _section(e: ev.BaselineReused | ev.BaselineRescored) -> c.BaselineScoring:
    if isinstance(e, ev.BaselineReused):
        return c.BaselineScoring(
            arm=e.arm,
            source_run_id=e.source_run_id,
            reused=True,
            scoring_key=e.scoring_key,
            source_events=list(e.source_events),
        )
    return c.BaselineScoring(arm=e.arm, source_run_id=e.source_run_id, reused=False, reason=e.reason)
