"""The audit compares an ONNX model's graph digest where the certificate states one. The identity digested
only the initializers: a graph rewritten over the same weights (a Sigmoid made a Tanh) passed
`reexec:subject_model`, only the re-scored windows telling it apart. Certificates issued before the digest
existed state none: the audit says the graph is not certified rather than claiming it checked it."""

from __future__ import annotations

from typing import Any

import msgspec
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.verification.reexecute_identity import identity_findings
from invarlock.domain import certificate as c
from invarlock.domain.model import ModelIdentity

from tests.unit.conftest import small_config

GRAPH, OTHER = "a" * 64, "b" * 64


def _certified(services: Any, graph: str | None) -> c.Certificate:
    config = small_config()
    cert = certify_edit(CertifyRequest("certify", config, config.model, "balanced", "dev"), services).certificate
    return msgspec.structs.replace(cert, subject=msgspec.structs.replace(cert.subject, graph_sha256=graph))


def _subject_finding(cert: c.Certificate, loaded: ModelIdentity) -> tuple[bool, str]:
    [(name, ok, detail)] = identity_findings(cert, {"subject": loaded})
    assert name == "reexec:subject_model"
    return ok, detail


def test_another_graph_over_the_certified_weights_fails_the_subject_model_check(services) -> None:
    cert = _certified(services, GRAPH)
    ok, detail = _subject_finding(cert, msgspec.structs.replace(cert.subject, graph_sha256=OTHER))
    assert not ok and detail.startswith(f"subject: graph_sha256 {OTHER[:12]} != certified {GRAPH[:12]}")
    ok, detail = _subject_finding(cert, msgspec.structs.replace(cert.subject, graph_sha256=None))
    assert not ok and detail.startswith(f"subject: graph_sha256 none != certified {GRAPH[:12]}")


def test_the_certified_graph_passes_and_the_finding_says_it_was_compared(services) -> None:
    cert = _certified(services, GRAPH)
    ok, detail = _subject_finding(cert, cert.subject)
    assert ok and detail.endswith("parameter count and dtype, and so does the graph digest")


def test_a_certificate_without_a_graph_digest_is_said_not_to_certify_the_graph(services) -> None:
    cert = _certified(services, None)
    ok, detail = _subject_finding(cert, msgspec.structs.replace(cert.subject, graph_sha256=GRAPH))
    assert ok and "its graph is not certified (no graph_sha256: issued before 0.3.8)" in detail
    ok, detail = _subject_finding(cert, cert.subject)
    assert ok and "graph" not in detail
