"""Every object of the certificate is closed: an unknown key anywhere is E601 naming it, as docs/reference/
certificate.md states (two nested records once took any key, and an added one read as a re-encoded file, exit 3)."""

from __future__ import annotations

import json

import msgspec.inspect as mi
import pytest
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError

from tests.unit.test_verify_robustness import raw  # noqa: F401  (the fixture)


def _structs(t: mi.Type, seen: dict[type, mi.StructType]) -> dict[type, mi.StructType]:
    if isinstance(t, mi.StructType) and t.cls not in seen:
        seen[t.cls] = t
        for f in t.fields:
            _structs(f.type, seen)
    children = [getattr(t, a) for a in ("item_type", "key_type", "value_type") if hasattr(t, a)]
    children += list(getattr(t, "types", ())) + list(getattr(t, "item_types", ()))
    for child in children:
        _structs(child, seen)
    return seen


def test_every_record_the_certificate_holds_forbids_unknown_fields() -> None:
    found = _structs(mi.type_info(c.Certificate), {})
    assert len(found) > 50
    assert [cls.__name__ for cls, t in found.items() if not t.forbid_unknown_fields] == []


def test_an_unknown_key_in_a_nested_record_is_e601_naming_it(raw: bytes) -> None:  # noqa: F811
    data = json.loads(raw)
    data["guards"]["variance"]["summary"]["extra_key"] = 1
    with pytest.raises(UsageError) as caught:
        c.from_bytes(json.dumps(data).encode())
    assert caught.value.code == "E601" and "extra_key" in caught.value.message
