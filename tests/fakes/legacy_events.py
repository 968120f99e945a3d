"""Events written the way release 948972e wrote them, to test that stores of that release still read."""

from __future__ import annotations

import msgspec
from invarlock.domain import events as ev
from invarlock.domain import events_legacy as legacy


def as_v1(event: ev.Event) -> object:
    """The event as release 948972e wrote it: the legacy Struct of its type's version 1 (others unchanged)."""
    if isinstance(event, ev.ModelFingerprinted):
        return legacy.ModelFingerprintedV1(role=event.role, **msgspec.structs.asdict(event.identity))
    if isinstance(event, ev.WindowsPlanned):
        plan = msgspec.structs.asdict(event.plan)
        windows, digest = plan.pop("windows"), plan.pop("window_plan_digest")
        return legacy.WindowsPlannedV1(
            **msgspec.structs.asdict(event.corpus),
            **plan,
            plan_digest=digest,
            window_ids=[w.window_id for w in windows],
            window_digests=[w.digest for w in windows],
            arms=[w.arm for w in windows],
        )
    if isinstance(event, ev.EditApplied):
        deltas = msgspec.structs.asdict(event.outcome.deltas)
        deltas["modules_changed"] = list(deltas["modules_changed"])
        return legacy.EditAppliedV1(
            name=event.outcome.name, plan=event.outcome.plan, plan_digest=event.outcome.plan_digest, **deltas
        )
    return event
