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
from invarlock.domain.model import CorpusInfo
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


def short_digest(digest: str) -> str:
    """The first 12 hex digits, as the audit's lines show a digest."""
    return digest[:12]


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
                f"dataset digest {short_digest(digest)} != certified {short_digest(info.dataset_digest)}",
                digest == info.dataset_digest,
            ),
            (
                f"tokenizer {short_digest(tok)} != the dataset's {short_digest(info.tokenizer_sha256)}",
                tok == info.tokenizer_sha256,
            ),
            (
                f"the rebuilt stream holds {plan.stream_tokens} tokens, the certificate {info.stream_tokens}",
                plan.stream_tokens == info.stream_tokens,
            ),
            ("the rebuilt plan assigns other windows or arms", list(plan.windows) == cert.evidence.plan),
            ("the rebuilt plan digest differs", plan.window_plan_digest == info.window_plan_digest),
        )
        if not ok
    ]
