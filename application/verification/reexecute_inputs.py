"""The audit's first two steps: the recipient's models are the certified ones, and the dataset recipe
rebuilds the certified windows bit for bit."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import msgspec
import numpy as np
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.guards.spectrum import MatrixMeasure
from invarlock.domain.model import CorpusInfo, EditOutcome, GGUFSource, ModelIdentity
from invarlock.domain.policy import Policy
from invarlock.domain.windows import PlannedWindow, Row, WindowPlan, cut_windows, window_digest
from invarlock.ports.corpus import CorpusResolver
from invarlock.ports.measurement import MeasurementPool
from invarlock.ports.model import LoadedModel, ModelRunner

from ..certification.planning import plan_stream, token_stream
from ..config import DatasetConfig
from .reexecute_answers import AuditedBaseline

Finding = tuple[str, bool, str]
SHOWN = 5  # mismatching windows named in one line


@dataclass(frozen=True)
class AuditContext:
    """What the guard and scoring steps share: the certificate and its policy, the loaded models (or the subject
    and the released baseline's answers), the rebuilt window rows, the recipient's sample and seed, the
    comparison rule and the audit stream's recorder."""

    cert: c.Certificate
    policy: Policy
    models: dict[str, LoadedModel]
    rows: Mapping[int, Row]
    sample: int | None
    seed: int
    exact: bool  # forward passes (scores, activation taps) compared bit for bit
    exact_matrices: bool  # weight-guard matrix measurements compared bit for bit
    rel_tol: float
    record: Callable[[ev.Event], object]
    measured: dict[tuple[str, float], tuple[MatrixMeasure, MatrixMeasure]] = field(default_factory=dict)
    pool: MeasurementPool | None = None  # as certify's: the same BLAS threads, so the same bits
    baseline: AuditedBaseline | None = None  # the released baseline's answers (`models` then holds the subject)


@dataclass(frozen=True)
class Exactness:
    """Which recomputed numbers must agree bit for bit: those of forward passes, those of weight-guard matrix
    measurements (the others within the relative tolerance)."""

    forward_passes: bool
    matrices: bool


@dataclass
class Tally:
    """What one step re-checked: count, largest relative difference, mismatches by name."""

    checked: int = 0
    max_rel_diff: float = 0.0
    mismatches: list[str] = field(default_factory=list)


def _short(digest: str) -> str:
    return digest[:12]


def identity_findings(cert: c.Certificate, identities: Mapping[str, ModelIdentity]) -> list[Finding]:
    """Weights, tokenizer and config digests of the loaded models (by role: both, or the baseline alone)
    against the certificate's, and the GGUF record of a model loaded from the GGUF file (`gguf:FILE`) against
    the certified one, the weights the adapter cannot map against the certified list, and the graph digest
    where the certificate states one (ONNX models)."""
    findings = []
    for role, section in (("baseline", cert.baseline), ("subject", cert.subject)):
        if role not in identities:
            continue
        now = identities[role]
        wrong = [
            f"{field} {_short(getattr(now, field))} != certified {_short(getattr(section, field))}"
            for field in ("weights_sha256", "tokenizer_sha256", "config_sha256")
            if getattr(now, field) != getattr(section, field)
        ]
        wrong += [  # stated beside the digests, which do not cover them (a forger's GPT2LMHeadModel passed; a
            # bfloat16 run relabelled float32 loads, as its config asks, in bfloat16: its dtype differs)
            f"{field} {getattr(now, field)!r} != certified {getattr(section, field)!r}"
            for field in ("architecture", "param_count", "dtype")
            if getattr(now, field) != getattr(section, field)
        ]
        if now.gguf is not None and now.gguf != section.gguf:
            wrong.append(_gguf_difference(now.gguf, section.gguf))
        if now.unmapped != section.unmapped:  # the not_applicable rows of the weight guards derive from it
            wrong.append(f"unmapped weights {sorted(now.unmapped or {})} != certified {sorted(section.unmapped or {})}")
        wrong += _graph_difference(now, section)
        detail = f"{role} digests recomputed: weights, tokenizer and config equal the certificate's, as do the"
        detail += " architecture, parameter count and dtype"
        detail += _graph_note(now, section) + _gguf_note(now, section)
        if wrong:
            detail = f"{role}: {'; '.join(wrong)}{_other_role(role, now.weights_sha256, cert)}"
        findings.append((f"reexec:{role}_model", not wrong, detail))
    return findings


def edit_findings(cert: c.Certificate, applied: EditOutcome | None, edited_weights: str | None = None) -> list[Finding]:
    """The edit re-applied to the baseline against the certificate's edit section: its plan digest and what it
    says it changed (edit.deltas: parameters, layers, bit widths), which no digest covers. With --subject the edit
    was re-applied to a copy of the baseline (`edited_weights`, its weights digest), which must hold the certified
    subject's weights: the subject given is compared with the certificate, the certificate with the edit."""
    if applied is None:
        return []
    done = msgspec.to_builtins(applied.deltas)
    stated = msgspec.to_builtins(cert.edit.deltas) if cert.edit.deltas is not None else {}
    wrong = [f"edit.deltas.{k}" for k in sorted(done.keys() | stated.keys()) if done.get(k) != stated.get(k)]
    if applied.plan_digest != cert.edit.plan_digest:
        wrong.insert(0, "edit.plan_digest")
    said = [f"{', '.join(wrong)} {'differs' if len(wrong) == 1 else 'differ'} from the certificate's"] if wrong else []
    if edited_weights is not None and edited_weights != cert.subject.weights_sha256:
        certified = _short(cert.subject.weights_sha256)
        said.append(f"its weights {_short(edited_weights)} are not the certified subject's {certified}")
    copy = " to a copy of the baseline" if edited_weights is not None else ""
    if said:
        return [("reexec:edit", False, f"{applied.name} re-applied{copy}: {'; '.join(said)}")]
    weights = ", deltas and weights" if edited_weights is not None else " and deltas"
    return [("reexec:edit", True, f"{applied.name} re-applied{copy}: its plan digest{weights} equal the certificate's")]


def _graph_difference(now: ModelIdentity, certified: ModelIdentity) -> list[str]:
    """The graph digest where the certificate states one and the loaded model's differs (or is none)."""
    if certified.graph_sha256 is None or now.graph_sha256 == certified.graph_sha256:
        return []
    found = _short(now.graph_sha256) if now.graph_sha256 else "none"
    return [f"graph_sha256 {found} != certified {_short(certified.graph_sha256)}"]


def _graph_note(now: ModelIdentity, certified: ModelIdentity) -> str:
    """What the audit said of the graph: compared, or not certified (certificates before 0.3.8 state no graph
    digest; the re-scored windows then are what checks what the graph computes)."""
    if certified.graph_sha256 is not None:
        return ", and so does the graph digest"
    if now.graph_sha256 is not None:
        return "; its graph is not certified (no graph_sha256: issued before 0.3.8), the re-scored windows check it"
    return ""


def _gguf_note(now: ModelIdentity, certified: ModelIdentity) -> str:
    """What the audit said of a certified GGUF record it could not compare (the model was not loaded from a file)."""
    if certified.gguf is None or now.gguf is not None:
        return ""
    return (
        f"; its GGUF record (file {_short(certified.gguf.file_sha256)}) was not compared: the model was not loaded"
        " from a GGUF file (give gguf:FILE to compare it, or check it with docs/reference/recompute_gguf.py)"
    )


def _gguf_difference(now: GGUFSource, certified: GGUFSource | None) -> str:
    """The fields of the loaded file's GGUF record that differ from the certified one, each with both values."""
    if certified is None:
        return f"gguf file {_short(now.file_sha256)} != certified none"
    shown = [
        (name, mine, theirs)
        for name in GGUFSource.__struct_fields__
        if (mine := getattr(now, name)) != (theirs := getattr(certified, name))
    ]
    said = [f"{name} {_value(mine)} != certified {_value(theirs)}" for name, mine, theirs in shown]
    return f"gguf {'; '.join(said)}"


def _value(value: object) -> str:
    return _short(value) if isinstance(value, str) else str(value)


def _other_role(role: str, weights: str, cert: c.Certificate) -> str:
    """A hint when the model given for `role` holds the other certified model's weights and not its own (swapped,
    or the baseline passed as the subject); none where both certified models hold the same weights (a GGUF
    file against its dequantized checkpoint)."""
    other = "subject" if role == "baseline" else "baseline"
    if weights != getattr(cert, other).weights_sha256 or weights == getattr(cert, role).weights_sha256:
        return ""
    return f" (these are the certified {other}'s weights: pass the certified {role} as --{role})"


@dataclass(frozen=True)
class RebuiltWindows:
    """Token rows of the certificate's windows (or labelled examples' windows), rebuilt from the dataset recipe."""

    rows: Mapping[int, Row]
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.findings)


def dataset_recipe(cert: c.Certificate) -> DatasetConfig:
    """The dataset section of the config the certificate records (raises msgspec.ValidationError)."""
    return msgspec.convert(cert.provenance.config.get("dataset", {}), DatasetConfig)


@contextmanager
def recipe_source(ds: DatasetConfig) -> Iterator[None]:
    """A UsageError opening or reading the corpus of the certificate's dataset recipe (a file that is not here, a
    hub dataset not cached) is the recipient's to fix: said as the certificate's field, the path it names being
    the issuer's, not one the recipient gave."""
    try:
        yield
    except UsageError as exc:
        named = f"{ds.provider} {ds.source_path}" if ds.source_path else ds.provider
        raise UsageError(
            exc.code,
            f"the certificate's dataset (provenance.config.dataset: {named}) cannot be read here: {exc.message}",
            f"{exc.hint}; the audit rebuilds the certified windows from it, a relative path from the folder verify "
            "runs in",
        ) from exc


def rebuild_windows(
    cert: c.Certificate, policy: Policy, corpora: CorpusResolver, baseline: ModelRunner
) -> RebuiltWindows:
    """Tokenize the recorded corpus with the baseline's tokenizer, cut the windows, and compare every
    certified window's content digest, then the whole plan (ids, arms, digests) and the dataset digest."""
    try:
        ds = dataset_recipe(cert)
    except msgspec.ValidationError as exc:
        return RebuiltWindows({}, [("reexec:windows", False, f"the dataset recipe cannot be read: {exc}")])
    tok = baseline.tokenizer()
    with recipe_source(ds):
        corpus = corpora.open(ds.provider, path=ds.source_path, text_field=ds.text_field, split=ds.split, **ds.hub)
        stream = token_stream(corpus, tok)
    stated = corpus_difference(corpus.info(), cert.dataset.corpus)
    if stated is not None:
        return RebuiltWindows({}, [("reexec:windows", False, stated)])
    cut = cut_windows(stream, ds.seq_len, ds.effective_stride)
    mismatched = [e for e in cert.evidence.plan if not 0 <= e.window_id < len(cut) or _digest(cut, e) != e.digest]
    if mismatched:
        named = ", ".join(f"{e.arm} window {e.window_id}" for e in mismatched[:SHOWN])
        more = f" and {len(mismatched) - SHOWN} more" if len(mismatched) > SHOWN else ""
        total = len(cert.evidence.plan)
        detail = f"{len(mismatched)} of {total} window digests differ from the rebuilt windows: {named}{more}"
        return RebuiltWindows({}, [("reexec:windows", False, detail)])
    rows = {e.window_id: cut[e.window_id] for e in cert.evidence.plan}
    unplanned = [
        i for arm in (cert.evidence.preview, cert.evidence.final) if arm for i in arm.window_ids if i not in rows
    ]
    if unplanned:
        return RebuiltWindows({}, [("reexec:windows", False, f"evidence windows not in the plan: {unplanned[:SHOWN]}")])
    return RebuiltWindows(rows, [_plan_finding(cert, policy, ds, stream, tok.digest())])


def corpus_difference(rebuilt: CorpusInfo, certified: CorpusInfo) -> str | None:
    """Where the corpus the recipe opens here states other facts than the certificate's dataset.corpus: its
    provider, split and licence (a forged licence passed the audit). Its source is where this machine keeps it (a
    package's or a file's path) and a `datasets` fingerprint depends on that library: stated, not compared (the
    dataset digest covers the text)."""
    for name in ("provider", "split", "licence"):
        now, said = getattr(rebuilt, name), getattr(certified, name)
        if now != said:
            return f"dataset.{name} {said!r} is not the opened corpus's {now!r}"
    return None


def _digest(cut: np.ndarray, entry: PlannedWindow) -> str:
    return window_digest(cut[entry.window_id])


def _plan_finding(cert: c.Certificate, policy: Policy, ds: DatasetConfig, stream: np.ndarray, tok: str) -> Finding:
    info = cert.dataset
    try:
        planned, _ = plan_stream(
            stream, ds, corpus=info.corpus, tokenizer_sha=tok, allow_fewer=not policy.enforce_floors
        )
    except InvarlockError as exc:
        return "reexec:windows", False, f"the windows cannot be planned again: {exc.message}"
    problems = plan_problems(cert, planned.plan, tok)
    if problems:
        return "reexec:windows", False, "; ".join(problems)
    stated = len(cert.evidence.plan)
    return "reexec:windows", True, f"all {stated} planned windows rebuilt from the dataset recipe, digests equal"


def plan_problems(cert: c.Certificate, plan: WindowPlan, tok: str) -> list[str]:
    """What differs between a rebuilt plan and the certificate's: windows and arms, dataset, tokenizer and
    plan digests, and the stream's length (stream windows and labelled examples alike)."""
    info = cert.dataset
    digest = plan.dataset_digest
    return [
        what
        for what, ok in (
            (
                f"dataset digest {_short(digest)} != certified {_short(info.dataset_digest)}",
                digest == info.dataset_digest,
            ),
            (f"tokenizer {_short(tok)} != the dataset's {_short(info.tokenizer_sha256)}", tok == info.tokenizer_sha256),
            (
                f"the rebuilt stream holds {plan.stream_tokens} tokens, the certificate {info.stream_tokens}",
                plan.stream_tokens == info.stream_tokens,
            ),
            ("the rebuilt plan assigns other windows or arms", list(plan.windows) == cert.evidence.plan),
            ("the rebuilt plan digest differs", plan.window_plan_digest == info.window_plan_digest),
        )
        if not ok
    ]
