"""domain.canonical.is_canonical: the bytes an event store holds must be exactly the canonical JSON of what they
decode to, so that no two readers of one hash-valid payload can read two values."""

from __future__ import annotations

import pytest
from invarlock.domain import events as ev
from invarlock.domain.canonical import canonical_bytes, is_canonical
from invarlock.domain.errors import IntegrityError


def test_canonical_json_of_nested_values_is_canonical() -> None:
    value = {"b": [1, 2.5, {"z": None, "a": "é"}], "a": 1e-300, "c": "line\nbreak"}
    assert is_canonical(canonical_bytes(value))


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a":1,"a":2}',  # a repeated key: msgspec reads 2, DuckDB's JSON functions 1
        b'{"a": 1}',  # whitespace
        b'{"b":1,"a":2}',  # keys out of order
        b'{"a":1.50}',  # not the shortest float
        b'{"a":1e999}',  # infinity, which canonical JSON cannot hold
        b'{"a":"\\u0041"}',  # an escape where the character itself is canonical
        b'{"a":1',  # not JSON at all
    ],
)
def test_other_bytes_for_the_same_value_are_not(payload: bytes) -> None:
    assert not is_canonical(payload)


def test_decode_event_refuses_a_payload_that_is_not_its_canonical_encoding() -> None:
    event = ev.RunCompleted(status="completed", verdict="PASS", finished_at="2026-01-01T00:00:00.000000Z")
    type_, version, payload = ev.encode_event(event)
    assert ev.decode_event(type_, version, payload) == event
    restated = payload.replace(b'"verdict":"PASS"', b'"verdict":"FAIL","verdict":"PASS"')
    with pytest.raises(IntegrityError, match="run_completed is not canonical JSON"):
        ev.decode_event(type_, version, restated)
