"""An onnx model's identity states its graph digest in every certificate since 0.3.8: a forger who deleted it
and resealed passed plain verify, and the re-execution audit read the certificate as an earlier release's whose
graph is not certified (the stop-62 hunt of the other metric kinds and runtimes)."""

from __future__ import annotations

import msgspec
import pytest
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c

from tests.fakes.certificates import fake_certificate, resealed

GRAPH = "ab" * 32


@pytest.fixture(scope="module")
def issued() -> c.Certificate:
    return fake_certificate()


def _as_onnx(cert: c.Certificate, role: str, graph: str | None, version: str) -> c.Certificate:
    section = msgspec.structs.replace(getattr(cert, role), adapter="onnx", graph_sha256=graph)
    return resealed(cert, **{role: section, "tool": msgspec.structs.replace(cert.tool, version=version)})


def _provenance(cert: c.Certificate) -> tuple[bool, str]:
    report = verify_certificate(c.from_bytes(c.to_bytes(cert)))
    check = next(ch for ch in report.checks if ch.name == "provenance")
    return check.ok, check.detail


@pytest.mark.parametrize("role", ["baseline", "subject"])
@pytest.mark.parametrize("version", ["0.3.8", "0.3.9", "1.0.0", "0.4.0.dev3"])
def test_an_onnx_identity_without_its_graph_digest_fails_from_0_3_8(issued, role, version) -> None:
    ok, detail = _provenance(_as_onnx(issued, role, None, version))
    assert not ok and detail == f"{role}.graph_sha256 is missing: every onnx model's identity states it since 0.3.8"
    assert _provenance(_as_onnx(issued, role, GRAPH, version))[0]  # stated: the audit compares it


@pytest.mark.parametrize("version", ["0.3.7", "0.2.0"])
def test_an_earlier_release_states_none_and_passes(issued, version) -> None:
    assert _provenance(_as_onnx(issued, "subject", None, version)) == _provenance(issued)
