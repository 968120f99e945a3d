"""The evaluation certificate (schema v1): Structs, canonical bytes and digest (docs/reference/certificate.md).

The sections live by concept in cert_sections, cert_inputs, cert_metrics, cert_evidence and cert_provenance, the schema
versioning in cert_versions; this module holds the Certificate itself, its sealing and its strict decoding, and
re-exports every section so that `from invarlock.domain import certificate as c` reaches all of them."""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec
import numpy as np

from .canonical import canonical_bytes, sha256_hex
from .cert_evidence import ArmEvidence, Evidence, GuardOverhead
from .cert_inputs import ArmCount, DatasetSection, EditSection
from .cert_metrics import AgreementSummary, ArmMetric, KlSummary, PrimaryMetric, SecondaryMetrics
from .cert_provenance import BaselineScoring, EventLogRef, GuardBaseline, Provenance, VarianceBaseline
from .cert_sections import (
    _S,
    BootstrapSection,
    FailedFlag,
    Flag,
    PairingSection,
    PolicySection,
    Signature,
    Tool,
    VerdictSection,
)
from .cert_versions import SCHEMA_VERSION, SCHEMA_VERSIONS, schema_version_of
from .errors import UsageError
from .guards.sections import GuardSections
from .model import ModelIdentity

__all__ = [
    "MAX_NESTING",
    "SCHEMA_VERSION",
    "SCHEMA_VERSIONS",
    "AgreementSummary",
    "ArmCount",
    "ArmEvidence",
    "ArmMetric",
    "BaselineScoring",
    "BootstrapSection",
    "Certificate",
    "DatasetSection",
    "EditSection",
    "EventLogRef",
    "Evidence",
    "FailedFlag",
    "Flag",
    "GuardBaseline",
    "GuardOverhead",
    "KlSummary",
    "PairingSection",
    "PolicySection",
    "PrimaryMetric",
    "Provenance",
    "SecondaryMetrics",
    "Signature",
    "Tool",
    "VarianceBaseline",
    "VerdictSection",
    "body_bytes",
    "compute_digest",
    "from_bytes",
    "json_schema",
    "nesting_depth",
    "schema_version_of",
    "seal",
    "to_bytes",
]

# No certificate nests deeper than about 8; the cap keeps hostile nesting away from every recursive reader.
MAX_NESTING = 64
# A JSON string, the loop unrolled: a run of plain characters is one repeat (a group per character made a 20 MB
# string take gigabytes of regex stack).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


class Certificate(_S, frozen=True):
    """Everything needed to re-check a certification without the models."""

    schema_version: str
    run_id: str
    issued_at: str
    status: Literal["completed", "rollback"]
    tool: Tool
    baseline: ModelIdentity
    subject: ModelIdentity
    edit: EditSection
    dataset: DatasetSection
    pairing: PairingSection
    primary_metric: PrimaryMetric
    bootstrap: BootstrapSection
    evidence: Evidence
    guards: GuardSections
    guard_overhead: GuardOverhead | None
    secondary_metrics: SecondaryMetrics | None
    policy: PolicySection
    validation: dict[str, Flag]
    verdict: VerdictSection
    provenance: Provenance
    digest: str = ""
    signature: Signature | None = None


_UNSIGNED = ("digest", "signature")


def body_bytes(cert: Certificate) -> bytes:
    """Canonical bytes of every field except `digest` and `signature` (what is hashed and signed)."""
    body = {k: v for k, v in msgspec.to_builtins(cert).items() if k not in _UNSIGNED}
    return canonical_bytes(body)


def compute_digest(cert: Certificate) -> str:
    """Hex sha256 of `body_bytes(cert)`: the certificate's `digest` field when it is sealed."""
    return sha256_hex(body_bytes(cert))


def seal(cert: Certificate) -> Certificate:
    """The certificate with its digest filled in."""
    return msgspec.structs.replace(cert, digest=compute_digest(cert))


def to_bytes(cert: Certificate) -> bytes:
    """The file content of evaluation.cert.json: canonical JSON of the whole certificate."""
    return canonical_bytes(cert)


_DEPTH_BLOCK = 1 << 22  # bytes of JSON text per block of nesting_depth: 4 MiB, with 32 MiB of running depths


def nesting_depth(data: bytes) -> int:
    """How deeply the JSON text's arrays and objects nest (brackets inside strings do not count). Counted a block
    at a time: the whole file's step and running-depth arrays took 17 bytes per byte (4.4 GB for a 250 MB file of
    brackets, the DoS hunt); now the text without its strings and a block's arrays."""
    text = _STRING.sub(b'""', data)
    depth = deepest = 0
    for start in range(0, len(text), _DEPTH_BLOCK):
        block = np.frombuffer(text, dtype=np.uint8, count=min(_DEPTH_BLOCK, len(text) - start), offset=start)
        opens = (block == ord("[")) | (block == ord("{"))
        closes = (block == ord("]")) | (block == ord("}"))
        running = np.cumsum(opens.view(np.int8) - closes.view(np.int8), dtype=np.int64)
        deepest, depth = max(deepest, depth + int(running.max())), depth + int(running[-1])
    return deepest


def _json_error(data: bytes) -> str | None:
    """Why `data` is not JSON at all, None when it is (a number beyond float64, such as 1e999, is JSON that no
    certificate field can hold: the typed decode names where)."""
    try:
        msgspec.json.decode(data)
    except msgspec.ValidationError:
        return None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return str(exc)
    return None


def from_bytes(data: bytes) -> Certificate:
    """Strictly decode a certificate file. Raises UsageError E601 on any schema violation, nesting deeper
    than MAX_NESTING included."""
    hint = "pass the evaluation.cert.json that invarlock wrote, unaltered"
    depth = nesting_depth(data)
    if depth > MAX_NESTING:
        raise UsageError("E601", f"schema check failed: JSON nests {depth} levels deep (at most {MAX_NESTING})", hint)
    try:
        cert = msgspec.json.decode(data, type=Certificate)
    except msgspec.ValidationError as exc:
        # the typed decode reports the first field it refuses, even in a file cut short before its end
        broken = _json_error(data)
        said = f"is not valid JSON: {broken}" if broken else f"does not match the certificate schema: {exc}"
        raise UsageError("E601", f"schema check failed: certificate {said}", hint) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise UsageError("E601", f"schema check failed: certificate is not valid JSON: {exc}", hint) from exc
    if cert.schema_version not in SCHEMA_VERSIONS:
        raise UsageError("E601", f"schema check failed: unsupported schema_version '{cert.schema_version}'", hint)
    needed = schema_version_of(cert)
    if cert.schema_version != needed:
        raise UsageError(
            "E601", f"schema check failed: schema_version '{cert.schema_version}' but the content is {needed}", hint
        )
    return cert


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) generated from the Structs."""
    schema = msgspec.json.schema(Certificate)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
