"""Events written the way release 948972e wrote them, to test that stores of that release still read."""

from __future__ import annotations

import msgspec
from invarlock.domain import events as ev
from invarlock.domain import events_legacy as legacy


def as_v1(event: ev.Event) -> object:
    """The event as release 948972e wrote it: the legacy Struct of its type's version 1 (others unchanged)."""
    if isinstance(event, ev.ModelFingerprinted):
        return legacy.ModelFingerprintedV1(role=event.role, **_v1_fields(event.identity))
    if isinstance(event, ev.WindowsPlanned):
        plan = msgspec.structs.asdict(event.plan)
        windows, digest = plan.pop("windows"), plan.pop("window_plan_digest")
        return legacy.WindowsPlannedV1(
            **_v1_fields(event.corpus),
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


_ADDED_AFTER_V1 = (
    "gguf",
    "runtime",
    "unmapped",
    "fingerprint",
    "revision",
    "device_map",
    "graph_sha256",
)  # optional fields added later, unset in v1-era events


def _v1_fields(value: msgspec.Struct) -> dict[str, object]:
    fields = msgspec.structs.asdict(value)
    assert all(fields[name] is None for name in _ADDED_AFTER_V1 if name in fields), "not a v1-era value"
    return {k: v for k, v in fields.items() if k not in _ADDED_AFTER_V1}
