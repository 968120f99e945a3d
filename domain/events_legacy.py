"""Event versions an earlier release wrote, and their upcasters to the current version.

A stored event whose (type, version) is a key of UPCASTERS is decoded by its legacy Struct (tag `name.vN`,
exactly the wire shape that release wrote) and converted to the current event. Stores written by earlier
releases therefore replay to the same state, and to byte-identical certificates (tests/fixtures/store_v1).
The chain hash covers the stored bytes, so an upcast event is never re-encoded for hashing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from . import events as ev
from .errors import IntegrityError
from .event_struct import EventStruct
from .guards.results import GuardResult
from .guards.settings import Mode
from .model import CorpusInfo, EditDeltas, EditOutcome, ModelIdentity
from .windows import PlannedWindow, WindowPlan


class ModelFingerprintedV1(EventStruct, tag="model_fingerprinted.v1", frozen=True):
    """model_fingerprinted.v1: the identity's fields flat beside the role."""

    role: str
    ref: str
    adapter: str
    architecture: str
    weights_sha256: str
    tokenizer_sha256: str
    config_sha256: str
    param_count: int
    dtype: str
    device: str


class WindowsPlannedV1(EventStruct, tag="windows_planned.v1", frozen=True):
    """windows_planned.v1: corpus and plan fields flat, the windows as three parallel lists."""

    provider: str
    split: str
    source: str
    licence: str
    seq_len: int
    stride: int
    tokenizer_sha256: str
    dataset_digest: str
    plan_digest: str
    window_ids: list[int]
    window_digests: list[str]
    arms: list[str]
    windows_available: int
    duplicates_dropped: int
    stream_tokens: int
    approximate_counts: bool


class EditAppliedV1(EventStruct, tag="edit_applied.v1", frozen=True):
    """edit_applied.v1: the outcome's fields and its deltas flat."""

    name: str
    plan: dict[str, object]
    plan_digest: str
    params_changed: int
    layers_modified: int
    modules_changed: list[str]
    bitwidth_map: dict[str, int]


class ReexecutionStartedV1(EventStruct, tag="reexecution_started.v1", frozen=True):
    """reexecution_started.v1: without `sequential` (whether the audit held one model at a time)."""

    certificate_run_id: str
    certificate_digest: str
    baseline_ref: str
    subject_ref: str
    sample: int | None
    sample_seed: int
    started_at: str
    tool_version: str
    environment: dict[str, str]
    exact: bool
    rel_tol: float
    build_differences: list[str]


def _fields(event: msgspec.Struct, *exclude: str) -> dict[str, object]:
    return {k: v for k, v in msgspec.structs.asdict(event).items() if k not in exclude}


def model_fingerprinted_v2(old: ModelFingerprintedV1) -> ev.ModelFingerprinted:
    """v1 -> v2: the flat identity fields become the embedded ModelIdentity."""
    return ev.ModelFingerprinted(role=old.role, identity=msgspec.convert(old, ModelIdentity, from_attributes=True))


def windows_planned_v2(old: WindowsPlannedV1) -> ev.WindowsPlanned:
    """v1 -> v2: provider/split/source/licence become the CorpusInfo, the rest the WindowPlan, whose
    windows are the v1 parallel lists zipped and whose `window_plan_digest` is the v1 `plan_digest`."""
    columns = (old.window_ids, old.arms, old.window_digests)
    if len({len(column) for column in columns}) != 1:
        raise IntegrityError(
            "E604", "windows_planned.v1 lists window ids, arms and digests of unequal lengths", "the store was altered"
        )
    windows = tuple(PlannedWindow(window_id=i, arm=a, digest=d) for i, a, d in zip(*columns, strict=True))
    corpus = msgspec.convert(old, CorpusInfo, from_attributes=True)
    rest = _fields(old, *CorpusInfo.__struct_fields__, "plan_digest", "window_ids", "window_digests", "arms")
    plan_fields = {**rest, "window_plan_digest": old.plan_digest, "windows": windows}
    plan = msgspec.convert(plan_fields, WindowPlan, from_attributes=True)
    return ev.WindowsPlanned(corpus=corpus, plan=plan)


def edit_applied_v2(old: EditAppliedV1) -> ev.EditApplied:
    """v1 -> v2: the flat delta fields become the EditOutcome's EditDeltas."""
    deltas = msgspec.convert(old, EditDeltas, from_attributes=True)
    return ev.EditApplied(outcome=EditOutcome(name=old.name, plan=old.plan, plan_digest=old.plan_digest, deltas=deltas))


class GuardEvaluatedV1(EventStruct, tag="guard_evaluated.v1", frozen=True):
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


def legacy_decoder(struct: type[msgspec.Struct]) -> Callable[[bytes], Any]:
    """A strict decoder of one legacy event Struct, raising IntegrityError E604 like `decode_event`."""
    decoder = msgspec.json.Decoder(struct)

    def decode(payload: bytes) -> Any:
        try:
            return decoder.decode(payload)
        except msgspec.DecodeError as exc:
            tag = struct.__struct_config__.tag
            raise IntegrityError(
                "E604", f"event payload of type {tag} does not decode: {exc}", "the event store was altered"
            ) from exc

    return decode


def _upcaster(struct: type[msgspec.Struct], convert: Callable[[Any], ev.Event]) -> Callable[[bytes], ev.Event]:
    decode = legacy_decoder(struct)
    return lambda payload: convert(decode(payload))


# (type, version) -> payload bytes -> the current event.
def reexecution_started_v2(old: ReexecutionStartedV1) -> ev.ReexecutionStarted:
    """v1 -> v2: `sequential` None, as v1 did not record whether the audit held one model at a time."""
    return msgspec.convert({**_fields(old), "sequential": None}, ev.ReexecutionStarted)


UPCASTERS: dict[tuple[str, int], Callable[[bytes], ev.Event]] = {
    ("model_fingerprinted", 1): _upcaster(ModelFingerprintedV1, model_fingerprinted_v2),
    ("windows_planned", 1): _upcaster(WindowsPlannedV1, windows_planned_v2),
    ("edit_applied", 1): _upcaster(EditAppliedV1, edit_applied_v2),
    ("guard_evaluated", 1): _upcaster(GuardEvaluatedV1, guard_evaluated_v2),
    ("reexecution_started", 1): _upcaster(ReexecutionStartedV1, reexecution_started_v2),
}
