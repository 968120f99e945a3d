"""Every event of a run: frozen, past-tense Structs tagged `name.v1`, their codec and the hash chain."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from .canonical import canonical_bytes
from .errors import IntegrityError
from .guards.results import GuardResult
from .guards.settings import Mode

GENESIS_HASH = hashlib.sha256(b"invarlock/event-chain/genesis/v2").hexdigest()
SEAL_DOMAIN = "invarlock/chain-seal/v1"


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


class GuardEvaluated(_Event, tag="guard_evaluated.v2", frozen=True):
    """One guard's evaluation in one phase of the chain. `result` is tagged by guard: invariants record their
    checks and verdict; the weight and variance guards their raw measurements and the outcome derived from
    them under the run's policy (re-derivable by verify)."""

    phase: str
    mode: Mode
    seconds: float
    result: GuardResult

    @property
    def guard(self) -> str:
        return self.result.guard

    @property
    def verdict(self) -> str:
        return self.result.verdict


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


class ChainSealed(_Event, tag="chain_sealed.v1", frozen=True):
    """The issuer's Ed25519 signature over the chain head at completion (`seal_message`), appended last.

    `head_seq`/`head_hash` name the event it seals (run_completed); `signature` is base64 of 64 bytes.
    """

    head_seq: int
    head_hash: str
    key_fingerprint: str
    signature: str


class ReexecutionStarted(_Event, tag="reexecution_started.v1", frozen=True):
    """A recipient's re-execution audit of a certificate began. Audits are streams of their own, never part
    of the audited run's stream; `certificate_run_id` and `certificate_digest` name what was audited.
    `sample` is the number of windows re-scored per scored arm (None: all); `exact` says whether numbers
    must agree bit for bit (same device, dtype and build) or within `rel_tol`, and `build_differences`
    lists what differs from the issuer's build."""

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


class WindowRechecked(_Event, tag="window_rechecked.v1", frozen=True):
    """One window re-scored by both models: the certificate's NLL sums next to the recomputed ones."""

    arm: str
    window_id: int
    digest: str
    tokens_scored: int
    baseline_nll: float
    baseline_nll_recomputed: float
    subject_nll: float
    subject_nll_recomputed: float
    max_rel_diff: float
    ok: bool


class MatrixRechecked(_Event, tag="matrix_rechecked.v1", frozen=True):
    """One weight matrix re-measured for a guard; `mismatch` is the first differing field (None: agrees)."""

    guard: str
    name: str
    max_rel_diff: float
    ok: bool
    mismatch: str | None = None


class ReexecutionFinished(_Event, tag="reexecution_finished.v1", frozen=True):
    """The audit's outcome: `ok` only when every check ran and agreed; `failures` names each mismatch.
    `detection_power` maps an altered fraction f ("0.01") to 1 − (1 − f)^K for the smallest arm sample K."""

    finished_at: str
    ok: bool
    failures: list[str]
    windows_rechecked: int
    matrices_rechecked: int
    max_rel_diff: float
    detection_power: dict[str, float]


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
    | ChainSealed
    | ReexecutionStarted
    | WindowRechecked
    | MatrixRechecked
    | ReexecutionFinished
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
    """Decode stored payload bytes; the payload's own tag must agree with the stored type and version.

    An event type replaced by a newer version is decoded by its legacy Struct and upcast to the current one
    (domain/events_legacy.py); the chain hash always covers the stored bytes, never a re-encoding."""
    from .events_legacy import UPCASTERS

    upcast = UPCASTERS.get((type_, version))
    if upcast is not None:
        return upcast(payload)
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


def _length_prefixed(parts: tuple[bytes, ...]) -> bytes:
    return b"".join(len(part).to_bytes(8, "little") + part for part in parts)


def chain_hash(
    *, run_id: str, seq: int, recorded_at: str, prev_hash: str, type_: str, version: int, payload: bytes
) -> str:
    """Hex sha256 over run_id, seq, recorded_at, prev_hash, type, version and payload, in that order.

    Each part is UTF-8 text (seq and version in decimal, recorded_at as stored:
    `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`) or, for the payload, its canonical bytes, preceded by its length
    as 8 bytes little-endian so no part can shift into another (docs/reference/event-chain.md).
    """
    text = (run_id, str(seq), recorded_at, prev_hash, type_, str(version))
    return hashlib.sha256(_length_prefixed((*(t.encode() for t in text), payload))).hexdigest()


def record_hash(rec: RecordedEvent) -> str:
    """The chain hash a stored row must carry, recomputed from its other columns."""
    return chain_hash(
        run_id=rec.run_id,
        seq=rec.seq,
        recorded_at=rec.recorded_at,
        prev_hash=rec.prev_hash,
        type_=rec.type,
        version=rec.version,
        payload=rec.payload,
    )


def seal_message(run_id: str, head_seq: int, head_hash: str) -> bytes:
    """The bytes a chain seal signs: SEAL_DOMAIN, run_id, head seq (decimal) and head hash, length-prefixed."""
    return _length_prefixed(tuple(t.encode() for t in (SEAL_DOMAIN, run_id, str(head_seq), head_hash)))


def chain_problems(records: list[RecordedEvent]) -> list[str]:
    """Every broken link of a stream read back from a store: sequence gaps, prev_hash and hash mismatches.

    The hash covers run_id, seq and recorded_at too, so editing any stored column breaks the link.
    """
    problems: list[str] = []
    prev = GENESIS_HASH
    for expected_seq, rec in enumerate(records):
        where = f"run {rec.run_id} event seq {rec.seq} ({rec.type})"
        if rec.run_id != records[0].run_id:
            problems.append(f"{where}: belongs to another run than {records[0].run_id}")
        if rec.seq != expected_seq:
            problems.append(f"{where}: expected seq {expected_seq}")
        if rec.prev_hash != prev:
            problems.append(f"{where}: prev_hash does not link to the event before it")
        if record_hash(rec) != rec.hash:
            problems.append(f"{where}: hash does not match its contents")
        prev = rec.hash
    return problems
