"""What a replay spends on a recorded run's bootstrap: the bounds verify keeps, checked before any allocation."""

from __future__ import annotations

from invarlock.domain.errors import IntegrityError, UsageError
from invarlock.domain.policy import VERIFY_MAX_BOOTSTRAP_CELLS, VERIFY_MAX_REPLICATES
from invarlock.domain.run import RunState


def bootstrap_budget(state: RunState) -> None:
    """Refuse before any allocation a recorded bootstrap beyond verify's bounds: more replicates than any policy
    accepts (resolve_policy refuses them, so only an altered store holds them: IntegrityError E607, exit 3), or
    more replicate × window cells over an arm than verify spends (UsageError E607, exit 2: certify refuses such a
    plan since 0.3.9, E005, but an earlier release issued them, so such a store is not therefore altered)."""
    replicates = state.started.policy.replicates
    run_id = state.started.run_id
    if replicates > VERIFY_MAX_REPLICATES:
        raise IntegrityError(
            "E607",
            f"run {run_id}: its recorded policy asks for {replicates} bootstrap replicates "
            f"(replay allows {VERIFY_MAX_REPLICATES})",
            "no invarlock policy asks for that many; the event store was altered",
        )
    plan = state.windows.plan if state.windows is not None else None
    windows = max((len(plan.arm(arm)) for arm in ("preview", "final", "calibration")), default=0) if plan else 0
    if replicates * windows > VERIFY_MAX_BOOTSTRAP_CELLS:
        raise UsageError(
            "E607",
            f"run {run_id}: a bootstrap of {replicates} replicates over an arm of {windows} windows exceeds the "
            f"{VERIFY_MAX_BOOTSTRAP_CELLS} cells replay and verify spend",
            "a run of this release refuses such a plan before it starts (E005); this one cannot be checked here",
        )
