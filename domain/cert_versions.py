"""Which schema version a certificate states: v1 when it uses nothing added after v1, else v2.
Re-exported by domain/certificate.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cert_metrics import ArmMetric

if TYPE_CHECKING:
    from .certificate import Certificate

SCHEMA_VERSION = "v2"  # the newest; a certificate states the oldest version covering what it uses
SCHEMA_VERSIONS = ("v1", "v2")
_V1_FLAGS = frozenset(
    {
        *("primary_metric_acceptable", "preview_final_drift_acceptable", "window_floor_met", "token_floor_met"),
        "ci_not_approximate",
        *("pairing_ok", "invariants_pass", "spectral_stable", "rmt_stable", "variance_ok"),
        *("guard_overhead_acceptable", "catastrophe"),
    }
)
_V1_ARM_FIELDS = frozenset({"windows", "tokens", "baseline_ppl", "subject_ppl", "delta_mean", "ratio"})


def _uses_v2(cert: Certificate) -> bool:
    """Whether the certificate uses anything added after schema v1: another metric kind, another arm
    statistic, evidence without NLL columns or with paired measures, secondary metrics, a model's GGUF
    source, runtime, unmapped weights, device map or graph digest, a dataset fingerprint or revision, a
    plugin guard, a policy section (secondary gates, evidence requirements) or a validation flag v1 did not
    have."""
    from .metrics import V1_KINDS  # the metrics import this module: a top-level import would be a cycle

    pm = cert.primary_metric
    arms = [a for a in (pm.preview, pm.final) if a is not None]
    rows = [e for e in (cert.evidence.preview, cert.evidence.final) if e is not None]
    return (
        pm.kind not in V1_KINDS
        or any(_beyond_v1(a) for a in arms)
        or any(e.baseline_nll is None or e.subject_nll is None or e.comparisons is not None for e in rows)
        or cert.secondary_metrics is not None
        or cert.baseline.gguf is not None
        or cert.subject.gguf is not None
        or cert.baseline.runtime is not None
        or cert.subject.runtime is not None
        or cert.baseline.unmapped is not None
        or cert.subject.unmapped is not None
        or cert.baseline.device_map is not None
        or cert.subject.device_map is not None
        or cert.baseline.graph_sha256 is not None
        or cert.subject.graph_sha256 is not None
        or cert.dataset.fingerprint is not None
        or cert.dataset.revision is not None
        or "secondary" in cert.policy.resolved
        or cert.guards.plugins is not None
        or cert.provenance.baseline_scoring is not None
        or cert.provenance.guard_baseline is not None
        or cert.provenance.variance_baseline is not None
        or "evidence" in cert.policy.resolved
        or not _V1_FLAGS.issuperset(cert.validation)
    )


def _beyond_v1(arm: ArmMetric) -> bool:
    return any(getattr(arm, f) is not None for f in arm.__struct_fields__ if f not in _V1_ARM_FIELDS)


def schema_version_of(cert: Certificate) -> str:
    """The schema version a certificate states: "v1" when it uses nothing added after v1 (so certificates
    of v1 event stores replay byte for byte), else "v2"."""
    return "v2" if _uses_v2(cert) else "v1"
