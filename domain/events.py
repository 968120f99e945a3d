"""Every event of a run: frozen, past-tense Structs tagged `name.v1`, their codec and the hash chain."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from .canonical import canonical_bytes
from .errors import IntegrityError

GENESIS_HASH = hashlib.sha256(b"invarlock/event-chain/genesis/v1").hexdigest()


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    pass


class RunStarted(_Event, tag="run_started.v1", frozen=True):
    run_id: str
    command: str
    started_at: str
    tool_version: str
    config: dict[str, Any]
    policy: dict[str, Any]
    policy_digest: str
    seeds: dict[str, int]
    environment: dict[str, str]


class ModelFingerprinted(_Event, tag="model_fingerprinted.v1", frozen=True):
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


class WindowsPlanned(_Event, tag="windows_planned.v1", frozen=True):
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


class EditApplied(_Event, tag="edit_applied.v1", frozen=True):
    name: str
    plan: dict[str, Any]
    plan_digest: str
    params_changed: int
    layers_modified: int
    modules_changed: list[str]
    bitwidth_map: dict[str, int]


class GuardEvaluated(_Event, tag="guard_evaluated.v1", frozen=True):
    """One guard's evaluation. Invariants report `checks`; the weight and variance guards record their raw
    `measurements` and the `outcome` derived from them under the run's policy (re-derivable by verify)."""

    guard: str
    phase: str
    mode: str
    verdict: str
    checks: list[dict[str, Any]]
    seconds: float
    measurements: dict[str, Any] = {}
    outcome: dict[str, Any] = {}


class ScoredRow(msgspec.Struct, frozen=True, kw_only=True):
    window_id: int
    digest: str
    tokens_scored: int
    nll_sum: float


class WindowsScored(_Event, tag="windows_scored.v1", frozen=True):
    role: str
    arm: str
    rows: list[ScoredRow]


class PreviewAssessed(_Event, tag="preview_assessed.v1", frozen=True):
    ratio: float
    catastrophe_ratio: float
    catastrophe: bool


class RollbackPerformed(_Event, tag="rollback_performed.v1", frozen=True):
    reason: str


class CertificateIssued(_Event, tag="certificate_issued.v1", frozen=True):
    issued_at: str
    certificate_digest: str
    signature_key_fingerprint: str | None = None
    signature_value: str | None = None


class RunCompleted(_Event, tag="run_completed.v1", frozen=True):
    finished_at: str
    status: str
    verdict: str


class RunFailed(_Event, tag="run_failed.v1", frozen=True):
    failed_at: str
    code: str
    message: str


Event = (
    RunStarted
    | ModelFingerprinted
    | WindowsPlanned
    | EditApplied
    | GuardEvaluated
    | WindowsScored
    | PreviewAssessed
    | RollbackPerformed
    | CertificateIssued
    | RunCompleted
    | RunFailed
)

_DECODER = msgspec.json.Decoder(Event)


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored: position in its stream, type tag, version, payload bytes and chain hashes."""

    run_id: str
    seq: int
    type: str
    version: int
    payload: bytes
    recorded_at: str
    prev_hash: str
    hash: str


def event_tag(event: Event) -> tuple[str, int]:
    """("windows_scored", 1) for a WindowsScored.v1 event."""
    tag = type(event).__struct_config__.tag
    name, _, version = str(tag).rpartition(".v")
    return name, int(version)


def encode_event(event: Event) -> tuple[str, int, bytes]:
    """(type, version, canonical payload bytes) of an event."""
    name, version = event_tag(event)
    return name, version, canonical_bytes(event)


def decode_event(type_: str, version: int, payload: bytes) -> Event:
    """Decode stored payload bytes; the payload's own tag must agree with the stored type and version."""
    try:
        event: Event = _DECODER.decode(payload)
    except msgspec.DecodeError as exc:
        raise IntegrityError(
            "E604",
            f"event payload of type {type_} does not decode: {exc}",
            "the event store was altered or written by a newer invarlock",
        ) from exc
    if event_tag(event) != (type_, version):
        raise IntegrityError("E604", f"event payload tag {event_tag(event)} differs from its row {type_}", "")
    return event


def chain_hash(prev_hash: str, type_: str, version: int, payload: bytes) -> str:
    """sha256(prev_hash ‖ type ‖ version ‖ payload), each part length-prefixed so parts cannot shift."""
    h = hashlib.sha256()
    for part in (prev_hash.encode(), type_.encode(), str(version).encode(), payload):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def chain_problems(records: list[RecordedEvent]) -> list[str]:
    """Every broken link of a stream read back from a store: sequence gaps, prev_hash and hash mismatches."""
    problems: list[str] = []
    prev = GENESIS_HASH
    for expected_seq, rec in enumerate(records):
        where = f"run {rec.run_id} event seq {rec.seq} ({rec.type})"
        if rec.seq != expected_seq:
            problems.append(f"{where}: expected seq {expected_seq}")
        if rec.prev_hash != prev:
            problems.append(f"{where}: prev_hash does not link to the event before it")
        if chain_hash(rec.prev_hash, rec.type, rec.version, rec.payload) != rec.hash:
            problems.append(f"{where}: hash does not match its payload")
        prev = rec.hash
    return problems
