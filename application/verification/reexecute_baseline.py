"""The re-execution audit holding one model at a time (`verify --sequential`, and the default for a certificate
issued with `eval.sequential: true`): with the baseline the only model held, everything the audit's steps read
from it is measured first (AuditedBaseline), then the baseline is released and the subject loads.

The answers are those the audit reads from a held baseline (the same functions over the same matrices, taps and
windows of the recipient's sample), so each step decides as it does with both models held; KL and top-1 agreement
are re-measured from the baseline's kept side of them (ports.kept_reference.KeptReference), as a sequential run measures
them. Evidence that compares the models otherwise (labelled examples, cosines) and plugin guards need both at once:
an audit of such a certificate holds both."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.guards import sections as gs
from invarlock.domain.guards.rmt_records import RmtMatrix
from invarlock.domain.guards.spectral_records import SpectralMatrix
from invarlock.domain.model import ModelIdentity
from invarlock.domain.policy import Policy
from invarlock.domain.reexecution import choose_sample
from invarlock.domain.windows import Row, token_count, token_windows
from invarlock.ports.measurement import MeasurementPool
from invarlock.ports.model import LoadedModel

from ..certification.baseline_pass import kept_reference_of, summarised
from ..certification.score_rows import checked_scores
from ..certification.variance_guard import taps_only
from ..certification.weight_checks import checked_stats
from .reexecute_answers import AuditedBaseline
from .reexecute_identity import identity_findings
from .reexecute_inputs import RebuiltWindows
from .reexecute_placement import recorded_section

ARMS = ("preview", "final")


@dataclass
class BaselinePass:
    """What the baseline pass leaves the audit: the baseline's identity, the windows rebuilt with its tokenizer
    (None when its identity differs: nothing else is measured) and its answers, or the error that stopped it
    (recorded as the audit's once its stream starts)."""

    identity: ModelIdentity
    rebuilt: RebuiltWindows | None = None
    answers: AuditedBaseline | None = None
    error: InvarlockError | None = None


def holds_one_model(cert: c.Certificate, asked: bool) -> bool:
    """Whether the audit holds one model at a time: asked for (`verify --sequential`, refused with E200 when the
    certificate needs both models), or the certificate was issued so and nothing in it needs both."""
    needs_both = _needs_both(cert)
    if asked and needs_both:
        raise UsageError(
            "E200",
            f"--sequential cannot audit this certificate: {needs_both}",
            "drop --sequential (the audit then holds both models at once)",
        )
    return asked or (recorded_section(cert, "eval").get("sequential") is True and not needs_both)


def _needs_both(cert: c.Certificate) -> str:
    """Why the certificate's audit needs both models at once ('' when it does not)."""
    arms = [a for a in (cert.evidence.preview, cert.evidence.final) if a is not None]
    if any(a.comparisons is not None and not kl_pairs(a) for a in arms):
        return "its evidence holds paired measures of labelled examples or cosines, re-measured with both held"
    plugins = [name for name in cert.guards.names() if isinstance(cert.guards.of(name), gs.PluginSection)]
    if plugins:
        return f"plugin guard {plugins[0]} measures both models at once"
    return ""


MatrixRow = SpectralMatrix | RmtMatrix


def rows_by_name(recorded: Sequence[MatrixRow]) -> dict[str, MatrixRow]:
    """A guard's recorded matrices by name: the audit re-measures every one (reexecute_guards)."""
    return {row.name: row for row in recorded}


def sampled_windows(arm: c.ArmEvidence, name: str, sample: int | None, seed: int) -> list[int]:
    """The window ids of arm `name` the recipient's sample re-scores."""
    return [int(i) for i in choose_sample(arm.window_ids, sample, seed, f"arm:{name}")]


@dataclass(frozen=True)
class AuditSample:
    """The recipient's sample and seed, and the measurement pool the baseline pass measures matrices with."""

    sample: int | None
    seed: int
    pool: MeasurementPool | None


def baseline_pass(
    cert: c.Certificate,
    policy: Policy,
    model: LoadedModel,
    rebuild: Callable[[LoadedModel], RebuiltWindows],
    sample: AuditSample,
) -> BaselinePass:
    """The baseline's identity; when it is the certified one, the windows rebuilt with `rebuild(model)` and, when
    they are, the baseline's answers to every step. An InvarlockError on the way is kept, not raised: the pass's
    (rebuilding) or the answers' (AuditedBaseline.error)."""
    found = BaselinePass(identity=model.identity())
    if not identity_findings(cert, {"baseline": found.identity})[0][1]:
        return found
    try:
        found.rebuilt = rebuild(model)
    except InvarlockError as exc:
        found.error = _kept(exc)
        return found
    if found.rebuilt.ok:
        found.answers = AuditedBaseline()
        try:
            _answer(cert, policy, model, sample, found.rebuilt.rows, found.answers)
        except InvarlockError as exc:
            found.answers.error = _kept(exc)
    return found


def _kept(exc: InvarlockError) -> InvarlockError:
    """The error without its traceback, whose frames hold the baseline: kept, it would not be released."""
    exc.__context__ = exc.__cause__ = None
    return exc.with_traceback(None)


def _answer(
    cert: c.Certificate,
    policy: Policy,
    model: LoadedModel,
    sample: AuditSample,
    rows: Mapping[int, Row],
    answers: AuditedBaseline,
) -> None:
    """Fill `answers` in the order the audit's steps read them (invariants, weight guards, variance, scores)."""
    run = cert.provenance.config, cert.provenance.environment
    answers.census = model.census()
    answers.unmapped = dict(model.unmapped())
    wanted = _wanted_matrices(cert) - answers.unmapped.keys()
    answers.matrices = []
    if any(isinstance(cert.guards.of(g), (gs.SpectralSection, gs.RmtSection)) for g in cert.guards.names()):
        answers.matrices, answers.measures = summarised(model.matrices(), wanted.__contains__, policy, sample.pool)
    variance = cert.guards.of("variance")
    answers.taps = {}
    if isinstance(variance, gs.VarianceSection) and variance.measurements.taps:
        taps = variance.measurements.taps
        weights = [tap.weight for tap in taps]
        ids = variance.measurements.calibration.window_ids
        windows = token_windows(ids, rows, seed=cert.bootstrap.seed)
        answers.taps = checked_stats(run, "baseline", taps_only(model, windows, weights), weights)
    if any(kl_pairs(arm) for _, arm in _arms(cert)):
        answers.reference = kept_reference_of(model, cert.baseline.adapter, "drop --sequential (both models held)")
    try:
        sampled = {name: sampled_windows(arm, name, sample.sample, sample.seed) for name, arm in _arms(cert)}
        if answers.reference is not None:  # before any pass, as a sequential run's baseline pass
            answers.reference.check_room(token_count([i for ids in sampled.values() for i in ids], rows))
        for name, ids in sampled.items():
            windows = token_windows(ids, rows, seed=cert.bootstrap.seed)
            if answers.reference is not None:
                answers.reference.keep(windows)
                answers.scores[name] = {}  # the baseline's scores come with the subject's, from the kept side
                continue
            scored = checked_scores(run, "baseline", windows, model.score(windows))
            answers.scores[name] = {s.window_id: s for s in scored}
    finally:
        if answers.reference is not None:
            answers.reference.release_model()


def kl_pairs(arm: c.ArmEvidence) -> bool:
    """Whether the arm's evidence pairs KL and top-1 agreement with both models' NLL sums (a perplexity kind):
    a released baseline's kept side (KeptReference) re-measures them; other paired measures need both held."""
    return arm.comparisons is not None and arm.baseline_nll is not None


def _arms(cert: c.Certificate) -> list[tuple[str, c.ArmEvidence]]:
    return [(n, a) for n, a in zip(ARMS, (cert.evidence.preview, cert.evidence.final), strict=True) if a is not None]


def _wanted_matrices(cert: c.Certificate) -> set[str]:
    wanted: set[str] = set()
    for name in cert.guards.names():
        section = cert.guards.of(name)
        if isinstance(section, (gs.SpectralSection, gs.RmtSection)):
            rows: Sequence[MatrixRow] = section.measurements.matrices
            wanted |= rows_by_name(rows).keys()
    return wanted
