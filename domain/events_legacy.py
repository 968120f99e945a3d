"""Event versions an earlier release wrote, and their upcasters to the current version.

A stored event whose (type, version) is a key of UPCASTERS is decoded by its legacy Struct (tag `name.vN`,
exactly the wire shape that release wrote) and converted to the current event. Stores written by earlier
releases therefore replay to the same state, and to byte-identical certificates (tests/fixtures/store_v1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from . import events as ev
from .errors import IntegrityError
from .guards.results import GuardResult
from .guards.settings import Mode


def legacy_decoder(struct: type[msgspec.Struct]) -> Callable[[bytes], msgspec.Struct]:
    """A strict decoder of one legacy event Struct, raising IntegrityError E604 like `decode_event`."""
    decoder = msgspec.json.Decoder(struct)

    def decode(payload: bytes) -> msgspec.Struct:
        try:
            return decoder.decode(payload)
        except msgspec.DecodeError as exc:
            tag = struct.__struct_config__.tag
            raise IntegrityError(
                "E604", f"event payload of type {tag} does not decode: {exc}", "the event store was altered"
            ) from exc

    return decode


# (type, version) -> payload bytes -> the current event. Each entry: a legacy Struct in this module, its
# decoder and a pure conversion, e.g. (("model_fingerprinted", 1), lambda p: _model_v2(_decode_model_v1(p))).
UPCASTERS: dict[tuple[str, int], Callable[[bytes], ev.Event]] = {}


class GuardEvaluatedV1(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="guard_evaluated.v1"):
    """guard_evaluated.v1 (until 0.1.0): measurements, outcome and checks as free-form JSON."""

    guard: str
    phase: str
    mode: Mode
    verdict: str
    checks: list[dict[str, Any]]
    seconds: float
    measurements: dict[str, Any] = {}
    outcome: dict[str, Any] = {}


def guard_evaluated_v2(old: GuardEvaluatedV1) -> ev.GuardEvaluated:
    """The v1 event as v2: its free-form JSON decoded into the guard's typed result (E604 when it does not fit)."""
    if old.guard == "invariants":
        data: dict[str, Any] = {"guard": old.guard, "checks": old.checks, "verdict": old.verdict}
    else:
        data = {"guard": old.guard, "measurements": old.measurements, "outcome": old.outcome}
    try:
        result = msgspec.convert(data, GuardResult)
    except msgspec.ValidationError as exc:
        raise IntegrityError(
            "E604", f"guard_evaluated.v1 of {old.guard} does not upcast: {exc}", "the store was altered"
        ) from exc
    return ev.GuardEvaluated(phase=old.phase, mode=old.mode, seconds=old.seconds, result=result)


_decode_guard_v1 = legacy_decoder(GuardEvaluatedV1)
UPCASTERS[("guard_evaluated", 1)] = lambda payload: guard_evaluated_v2(_decode_guard_v1(payload))  # type: ignore[arg-type]
