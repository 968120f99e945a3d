"""Every field of a certificate is either checked by plain verify or declared as taken on trust or as stated
(application/verification/verify_proves.py, printed by verify): a forger edits each field in turn, reseals the
certificate with the project's own functions, and a forgery that verifies (exit 0 or 1: a verdict, no failed
check) must be in a field verify's output names."""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.verification.verify import verify_certificate
from invarlock.application.verification.verify_proves import NOT_RECOMPUTED_FIELDS
from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError

from tests.unit.conftest import small_config

Doc = dict[str, Any]


def _issue(services: Any, subject: str) -> Doc:
    request = CertifyRequest("certify", small_config(), ModelConfig(id=subject), tier="balanced", profile="dev")
    return dict(json.loads(c.to_bytes(certify_edit(request, services).certificate)))


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every scalar of the document, a list's first and last items standing for the rest."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index in sorted({0, len(node) - 1}) if node else ():
            yield from _leaves(node[index], (*path, str(index)))
    else:
        yield path, node


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.01 + 1e-9
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"
    return "x"  # None


def _passes_verify(doc: Doc, path: tuple[str, ...], value: Any) -> bool:
    forged = copy.deepcopy(doc)
    node = forged
    for key in path[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(path[-1]) if isinstance(node, list) else path[-1]] = value
    try:
        raw = c.to_bytes(c.seal(msgspec.convert(forged, c.Certificate)))
        return verify_certificate(c.from_bytes(raw), raw=raw).exit_code in (0, 1)  # a verdict, not a failed check
    except (msgspec.ValidationError, ValueError, InvarlockError):
        return False  # refused as it is decoded


def _declared(path: tuple[str, ...]) -> bool:
    dotted = ".".join(path)
    return any(fnmatch.fnmatchcase(dotted, pattern) for pattern in NOT_RECOMPUTED_FIELDS)


@pytest.mark.parametrize("subject", ["int8ish", "broken"])  # a passing run and a rollback
def test_a_field_plain_verify_accepts_edited_is_one_it_declares_not_recomputed(services: Any, subject: str) -> None:
    doc = _issue(services, subject)
    passed = [
        ".".join(path)
        for path, value in _leaves(doc)
        if path[0] not in ("digest", "signature") and _passes_verify(doc, path, _changed(value))
    ]
    assert passed, "the harness found no field verify takes as stated: it is not editing the certificate"
    undeclared = [path for path in passed if not _declared(tuple(path.split(".")))]
    assert undeclared == [], "verify neither checks these fields nor says it takes them as stated"
