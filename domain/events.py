"""Every event of a run or an audit, the tagged union over them and its codec: the import point for events.

Run events live in events_run.py, events_scored.py and events_end.py, re-execution audit events in
events_audit.py, the hash chain in chain.py; versions an earlier release wrote are decoded by events_legacy.py
and upcast to the current ones.
"""

from __future__ import annotations

import re
from typing import get_args

import msgspec

from .canonical import canonical_bytes, is_canonical
from .chain import GENESIS_HASH, SEAL_DOMAIN, RecordedEvent, chain_hash, chain_problems, record_hash, seal_message
from .errors import IntegrityError, NewerEvents, UsageError
from .events_audit import ComparisonRechecked, MatrixRechecked, ReexecutionFinished, ReexecutionStarted, WindowRechecked
from .events_end import CertificateIssued, ChainSealed, RunCompleted, RunFailed
from .events_reuse import BaselineRescored, BaselineReused, EventRef, GuardBaselineReused, VarianceBaselineReused
from .events_run import EditApplied, GuardEvaluated, ModelFingerprinted, RunStarted, WindowsPlanned
from .events_scored import (
    ComparedRow,
    PreviewAssessed,
    PreviewChecked,
    RollbackPerformed,
    ScoredRow,
    WindowsCompared,
    WindowsScored,
)

__all__ = [
    "CURRENT_VERSIONS",
    "GENESIS_HASH",
    "SEAL_DOMAIN",
    "BaselineRescored",
    "BaselineReused",
    "CertificateIssued",
    "ChainSealed",
    "ComparedRow",
    "ComparisonRechecked",
    "EditApplied",
    "Event",
    "EventRef",
    "GuardBaselineReused",
    "GuardEvaluated",
    "MatrixRechecked",
    "ModelFingerprinted",
    "PreviewAssessed",
    "PreviewChecked",
    "RecordedEvent",
    "ReexecutionFinished",
    "ReexecutionStarted",
    "RollbackPerformed",
    "RunCompleted",
    "RunFailed",
    "RunStarted",
    "ScoredRow",
    "VarianceBaselineReused",
    "WindowRechecked",
    "WindowsCompared",
    "WindowsPlanned",
    "WindowsScored",
    "chain_hash",
    "chain_problems",
    "decode_event",
    "encode_event",
    "event_tag",
    "record_hash",
    "seal_message",
]

Event = (
    RunStarted
    | ModelFingerprinted
    | WindowsPlanned
    | EditApplied
    | GuardEvaluated
    | WindowsScored
    | WindowsCompared
    | PreviewAssessed
    | PreviewChecked
    | RollbackPerformed
    | CertificateIssued
    | RunCompleted
    | RunFailed
    | ChainSealed
    | BaselineReused
    | BaselineRescored
    | GuardBaselineReused
    | VarianceBaselineReused
    | ReexecutionStarted
    | WindowRechecked
    | ComparisonRechecked
    | MatrixRechecked
    | ReexecutionFinished
)

_DECODER = msgspec.json.Decoder(Event)


def _name_and_version(struct: type[msgspec.Struct]) -> tuple[str, int]:
    name, _, version = str(struct.__struct_config__.tag).rpartition(".v")
    return name, int(version)


CURRENT_VERSIONS: dict[str, int] = dict(_name_and_version(struct) for struct in get_args(Event))
"""The version this release writes of each event type (earlier ones are upcast on read)."""


def event_tag(event: Event) -> tuple[str, int]:
    """("windows_scored", 1) for a WindowsScored.v1 event."""
    return _name_and_version(type(event))


def encode_event(event: Event) -> tuple[str, int, bytes]:
    """(type, version, canonical payload bytes) of an event."""
    name, version = event_tag(event)
    return name, version, canonical_bytes(event)


def decode_event(type_: str, version: int, payload: bytes) -> Event:
    """Decode stored payload bytes; the payload's own tag must agree with the stored type and version.

    An event type replaced by a newer version is decoded by its legacy Struct and upcast to the current one
    (domain/events_legacy.py); the chain hash always covers the stored bytes, never a re-encoding. A value
    that a typed field refuses on construction (e.g. a guard setting out of range) is an altered store too:
    IntegrityError E604, never the UsageError a user's own config would get."""
    _require_canonical(type_, payload)
    try:
        return _decode(type_, version, payload)
    except UsageError as exc:
        raise IntegrityError(
            "E604",
            f"event payload of type {type_} holds an invalid value: {exc.message}",
            "the event store was altered",
        ) from exc


def _require_canonical(type_: str, payload: bytes) -> None:
    """Every payload is stored as its canonical JSON (encode_event). Other bytes that decode to the same event
    (a key twice, whitespace) would let one hash-valid store tell two readers two things: msgspec keeps a
    repeated key's last value, DuckDB's JSON functions (the audit's SQL views) its first."""
    if not is_canonical(payload):
        raise IntegrityError(
            "E604",
            f"event payload of type {type_} is not canonical JSON (a repeated key, whitespace, key order or "
            "nesting too deep to read)",
            "the event store was altered",
        )


_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*")  # how a release names an event type


def of_newer_release(type_: str, version: int) -> bool:
    """Whether an event type and version this release does not read is a newer release's (a well-named type we
    do not know, or a version above ours) rather than an altered row (anything else: the doctor's D910 vs D920)."""
    current = CURRENT_VERSIONS.get(type_)
    return bool(_TYPE_NAME.fullmatch(type_)) and version >= 1 and (current is None or version > current)


def _refuse_newer(type_: str, version: int) -> None:
    """NewerEvents for a newer release's type and version; anything else is left to the decoding."""
    if not of_newer_release(type_, version):
        return
    current = CURRENT_VERSIONS.get(type_)
    reads = f"reads {type_} up to v{current}" if current is not None else f"has no event type {type_}"
    raise NewerEvents(
        "E604",
        f"event {type_}.v{version} was written by a newer invarlock release (this one {reads})",
        "read this run with the release that wrote it, or a newer one",
    )


def _decode(type_: str, version: int, payload: bytes) -> Event:
    from .events_legacy import UPCASTERS

    upcast = UPCASTERS.get((type_, version))
    if upcast is not None:
        return upcast(payload)
    _refuse_newer(type_, version)
    try:
        event: Event = _DECODER.decode(payload)
    except msgspec.DecodeError as exc:
        raise IntegrityError(
            "E604",
            f"event payload of type {type_} does not decode: {exc}",
            "the event store was altered or written by a newer invarlock",
        ) from exc
    if event_tag(event) != (type_, version):
        raise IntegrityError(
            "E604",
            f"event payload tag {event_tag(event)} differs from its row {type_}",
            "the event store was altered",
        )
    return event
