"""Event versions an earlier release wrote, and their upcasters to the current version.

A stored event whose (type, version) is a key of UPCASTERS is decoded by its legacy Struct (tag `name.vN`,
exactly the wire shape that release wrote) and converted to the current event. Stores written by earlier
releases therefore replay to the same state, and to byte-identical certificates (tests/fixtures/store_v1).
"""

from __future__ import annotations

from collections.abc import Callable

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
    """guard_evaluated.v1 (until 0.1.0): checks, measurements and outcome were free-form JSON, kept raw here
    and decoded into the guard's typed result on upcast."""

    guard: str
    phase: str
    mode: Mode
    verdict: str
    checks: msgspec.Raw
    seconds: float
    measurements: msgspec.Raw = msgspec.Raw(b"{}")
    outcome: msgspec.Raw = msgspec.Raw(b"{}")


def _result_json(old: GuardEvaluatedV1) -> bytes:
    """The v2 `result` JSON of a v1 event, assembled from its raw members (numbers exactly as stored)."""
    tag = msgspec.json.encode(old.guard)
    if old.guard == "invariants":
        verdict = msgspec.json.encode(old.verdict)
        return b'{"guard":' + tag + b',"checks":' + bytes(old.checks) + b',"verdict":' + verdict + b"}"
    return (
        b'{"guard":' + tag + b',"measurements":' + bytes(old.measurements) + b',"outcome":' + bytes(old.outcome) + b"}"
    )


_RESULT = msgspec.json.Decoder(GuardResult)


def guard_evaluated_v2(old: GuardEvaluatedV1) -> ev.GuardEvaluated:
    """The v1 event as v2: its free-form JSON decoded into the guard's typed result (E604 when it does not fit)."""
    try:
        result = _RESULT.decode(_result_json(old))
    except msgspec.DecodeError as exc:
        raise IntegrityError(
            "E604", f"guard_evaluated.v1 of {old.guard} does not upcast: {exc}", "the event store was altered"
        ) from exc
    return ev.GuardEvaluated(phase=old.phase, mode=old.mode, seconds=old.seconds, result=result)


_decode_guard_v1 = legacy_decoder(GuardEvaluatedV1)


def _upcast_guard_v1(payload: bytes) -> ev.Event:
    old = _decode_guard_v1(payload)
    assert isinstance(old, GuardEvaluatedV1)
    return guard_evaluated_v2(old)


UPCASTERS[("guard_evaluated", 1)] = _upcast_guard_v1
