"""The evaluation certificate (schema v1): Structs, canonical bytes and digest (docs/reference/certificate.md)."""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec
import numpy as np

from .canonical import canonical_bytes, sha256_hex
from .errors import UsageError
from .events_reuse import EventRef
from .guards.sections import GuardSections
from .model import CorpusInfo, EditDeltas, ModelIdentity, WindowComparison
from .windows import PlannedWindow

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
# No certificate nests deeper than about 8; the cap keeps hostile nesting away from every recursive reader.
MAX_NESTING = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
Flag = bool | Literal["not_applicable"]
_FIX = "pass the evaluation.cert.json that invarlock wrote, unaltered"


class _S(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Tool(_S, frozen=True):
    name: str
    version: str


class EditSection(_S, frozen=True):
    """The recorded edit's EditOutcome fields, or only `name="external"` when the subject came as is."""

    name: str
    plan: dict[str, Any] | None = None
    plan_digest: str | None = None
    deltas: EditDeltas | None = None


class ArmCount(_S, frozen=True):
    preview: int
    final: int
    calibration: int


class DatasetSection(_S, frozen=True, omit_defaults=True):
    """The corpus (CorpusInfo fields), the window plan's fields but its windows, and the windows per arm."""

    provider: str
    split: str
    source: str
    licence: str
    seq_len: int
    stride: int
    windows: ArmCount
    windows_available: int
    duplicates_dropped: int
    stream_tokens: int
    approximate_counts: bool
    tokenizer_sha256: str
    dataset_digest: str
    window_plan_digest: str
    fingerprint: str | None = None
    revision: str | None = None

    @property
    def corpus(self) -> CorpusInfo:
        """The corpus the windows were cut from, as the CorpusInfo the run recorded."""
        return CorpusInfo(**{name: getattr(self, name) for name in CorpusInfo.__struct_fields__})


class PairingSection(_S, frozen=True):
    match_fraction: float
    overlap_fraction: float
    paired_windows: int
    reason: str | None


class ArmMetric(_S, frozen=True, omit_defaults=True):
    """One arm's paired statistic. Which fields are set depends on the primary metric's kind (its Metric
    checks that its own fields are present and no others); unset fields are not written.

    Perplexity kinds: baseline/subject perplexity, mean ΔlogNLL per token, ratio. Classification accuracy:
    baseline/subject accuracy (%), their difference in percentage points and the agreement of the subject's
    predictions with the baseline's (%). Embedding similarity: mean and min cosine.
    """

    windows: int
    tokens: int
    baseline_ppl: float | None = None
    subject_ppl: float | None = None
    delta_mean: float | None = None
    ratio: float | None = None
    baseline_accuracy: float | None = None
    subject_accuracy: float | None = None
    delta_pp: float | None = None
    agreement: float | None = None
    mean_cosine: float | None = None
    min_cosine: float | None = None

    def value(self, name: str) -> float:
        """The field `name`, which the metric kind requires (UsageError E601 when the certificate lacks it)."""
        found: float | None = getattr(self, name)
        if found is None:
            raise UsageError("E601", f"schema check failed: an arm of primary_metric lacks {name}", _FIX)
        return found


class PrimaryMetric(_S, frozen=True):
    kind: str
    unit: str
    direction: str
    gating_basis: str
    preview: ArmMetric
    final: ArmMetric | None
    ratio_vs_baseline: float | None
    ci: tuple[float, float] | None
    display_ci: tuple[float, float] | None
    drift: float | None
    ci_approximate: bool


class BootstrapSection(_S, frozen=True):
    method: str
    replicates: int
    alpha: float
    generator: str
    seed: int
    key: str


class ArmEvidence(_S, frozen=True, omit_defaults=True):
    """Per-window rows of one arm, in plan order. `baseline_nll`/`subject_nll` are set for the metrics with
    per-model NLL sums (perplexity kinds); `comparisons` when paired measures were recorded (KL/top-1 of a
    causal LM, embedding cosine, accuracy labels and predictions), one per window in the same order."""

    window_ids: list[int]
    window_digests: list[str]
    tokens_scored: list[int]
    baseline_nll: list[float] | None = None
    subject_nll: list[float] | None = None
    comparisons: list[WindowComparison] | None = None

    def nll(self) -> tuple[list[float], list[float]]:
        """The baseline and subject NLL columns (UsageError E601 when this arm has none)."""
        if self.baseline_nll is None or self.subject_nll is None:
            raise UsageError("E601", "schema check failed: an evidence arm lacks baseline_nll/subject_nll", _FIX)
        return self.baseline_nll, self.subject_nll


class Evidence(_S, frozen=True):
    """Per-window rows of the scored arms, and every planned window (scored or not) in plan order."""

    preview: ArmEvidence
    final: ArmEvidence | None
    plan: list[PlannedWindow]


class GuardOverhead(_S, frozen=True):
    """When a guard repaired the subject: the final arm scored again without the repairs (bare), and
    ratio = PPL(guarded) / PPL(bare) on the same windows (docs/assurance/guards.md §5)."""

    repaired_weights: list[str]
    bare_subject_nll: list[float]
    bare_ppl: float
    guarded_ppl: float
    ratio: float
    limit: float


class KlSummary(_S, frozen=True):
    """KL(baseline ‖ subject) per token over the arm's positions (the llama.cpp --kl-divergence summary):
    the mean (Σ kl_sum / Σ positions) with its window-bootstrap BCa interval, quantiles read from the
    merged per-window histograms (rule in SecondaryMetrics.quantile_rule) and the largest token KL."""

    tokens: int
    mean: float
    ci: tuple[float, float]
    median: float
    p90: float
    p99: float
    max: float


class AgreementSummary(_S, frozen=True):
    """Top-1 agreement (% of positions whose argmax agree) with its BCa interval, and the mean top-5
    overlap (% of the 5 top tokens shared) over the arm's positions."""

    tokens: int
    top1: float
    ci: tuple[float, float]
    top5_overlap: float


class SecondaryMetrics(_S, frozen=True):
    """Paired secondary metrics of a causal certificate, from `arm` (final, or preview after a rollback),
    with intervals drawn from the primary metric's bootstrap index matrix."""

    arm: str
    kl_divergence: KlSummary
    top1_agreement: AgreementSummary
    quantile_rule: str


class PolicySection(_S, frozen=True):
    resolved: dict[str, Any]
    digest: str


class FailedFlag(_S, frozen=True):
    flag: str
    reason: str


class VerdictSection(_S, frozen=True):
    status: Literal["PASS", "FAIL"]
    failed: list[FailedFlag]


class EventLogRef(_S, frozen=True):
    run_id: str
    head_hash: str
    event_count: int


class BaselineScoring(_S, frozen=True, omit_defaults=True):
    """Where one arm's baseline scores came from, when an earlier run in the event store had scored the same
    baseline on the same windows with the same scoring key (docs/reference/baseline-reuse.md).

    `reused`: the scores are copies of run `source_run_id`'s `source_events` (seq and chain hash), checked by
    verify --events; `scoring_key` is the digest both runs share. Otherwise the baseline was scored again and
    `reason` says why. An arm absent from the list was scored fresh with no earlier scoring to reuse.
    """

    arm: str
    source_run_id: str
    reused: bool
    scoring_key: str | None = None
    source_events: list[EventRef] | None = None
    reason: str | None = None


class GuardBaseline(_S, frozen=True):
    """The weight guards' baseline-side measurements were read from run `source_run_id`'s spectral and RMT
    records `source_events` (same `guard_key`), not measured again; verify --events checks the link."""

    source_run_id: str
    guard_key: str
    source_events: list[EventRef]


class Provenance(_S, frozen=True, omit_defaults=True):
    """How the run came about. `baseline_scoring` is set only when an earlier scoring of the baseline was
    found (certificates without it encode as before it existed)."""

    command: str
    started_at: str
    seeds: dict[str, int]
    environment: dict[str, str]
    config: dict[str, Any]
    event_log: EventLogRef
    baseline_scoring: list[BaselineScoring] | None = None
    guard_baseline: GuardBaseline | None = None


class Signature(_S, frozen=True):
    alg: str
    key_fingerprint: str
    value: str


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
    return sha256_hex(body_bytes(cert))


def seal(cert: Certificate) -> Certificate:
    """The certificate with its digest filled in."""
    return msgspec.structs.replace(cert, digest=compute_digest(cert))


def to_bytes(cert: Certificate) -> bytes:
    """The file content of evaluation.cert.json: canonical JSON of the whole certificate."""
    return canonical_bytes(cert)


def _uses_v2(cert: Certificate) -> bool:
    """Whether the certificate uses anything added after schema v1: another metric kind, another arm
    statistic, evidence without NLL columns or with paired measures, secondary metrics, a model's GGUF
    source, runtime, unmapped weights or device map, a dataset fingerprint or revision, a plugin guard, a
    policy section (secondary gates, evidence requirements) or a validation flag v1 did not have."""
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
        or cert.dataset.fingerprint is not None
        or cert.dataset.revision is not None
        or "secondary" in cert.policy.resolved
        or cert.guards.plugins is not None
        or cert.provenance.baseline_scoring is not None
        or cert.provenance.guard_baseline is not None
        or "evidence" in cert.policy.resolved
        or not _V1_FLAGS.issuperset(cert.validation)
    )


def _beyond_v1(arm: ArmMetric) -> bool:
    return any(getattr(arm, f) is not None for f in arm.__struct_fields__ if f not in _V1_ARM_FIELDS)


def schema_version_of(cert: Certificate) -> str:
    """The schema version a certificate states: "v1" when it uses nothing added after v1 (so certificates
    of v1 event stores replay byte for byte), else "v2"."""
    return "v2" if _uses_v2(cert) else "v1"


def nesting_depth(data: bytes) -> int:
    """How deeply the JSON text's arrays and objects nest (brackets inside strings do not count)."""
    text = np.frombuffer(_STRING.sub(b'""', data), dtype=np.uint8)
    steps = (np.isin(text, (ord("["), ord("{"))).astype(np.int64)) - np.isin(text, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


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
        raise UsageError("E601", f"schema check failed: certificate does not match schema v1: {exc}", hint) from exc
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
