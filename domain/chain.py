"""The hash chain over a stored stream: each event's hash covers its row and the previous event's hash."""

from __future__ import annotations

import hashlib

import msgspec

GENESIS_HASH = hashlib.sha256(b"invarlock/event-chain/genesis/v2").hexdigest()
SEAL_DOMAIN = "invarlock/chain-seal/v1"


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
