"""The preflight: every check a run makes before it loads a model, shared by certify/run and `invarlock doctor`.

certify and run stop at the first error (the same InvarlockError as ever); the doctor runs every check, turns
each error into a finding and skips the checks that need a failed one. Request checks come before a run is
recorded; input checks (device, model references, tokenizers, windows) are the pipeline's first step, so
their errors are recorded as the run's failure."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from invarlock.domain import diagnostics as d
from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError, InvarlockError, UsageError
from invarlock.domain.metrics import BUILTIN_KINDS
from invarlock.domain.policy import Policy
from invarlock.domain.windows import Row, TokenWindow
from invarlock.ports.corpus import CorpusResolver, Tokenizer, TokenStreamCache
from invarlock.ports.execution import ScoringPools
from invarlock.ports.model import ContextLimit, ModelLoader, ScoredKinds, ShapeSettings
from invarlock.ports.system import SystemProbe

from ..services import Services
from . import planning
from .preflight_edit import check_edit, check_edit_weights
from .preflight_notes import device_findings, policy_note, ungated_chain, window_findings
from .run_request import CertifyRequest, policy_for


@dataclass
class Preflight:
    """The checks' shared state: the request (None when the doctor could not read the config: every check of
    it is then skipped), the ports the checks use, and what earlier checks produced."""

    request: CertifyRequest | None
    loader: ModelLoader
    corpora: CorpusResolver
    edit_names: Callable[[], Collection[str]]
    edit_of: Callable[[str], object] | None = None
    probe: SystemProbe | None = None
    pools: ScoringPools | None = None
    tokens: TokenStreamCache | None = None
    policy: Policy | None = None
    tokenizers: dict[str, Tokenizer] = field(default_factory=dict)
    planned: tuple[ev.WindowsPlanned, Mapping[int, Row]] | None = None
    events: str | None = None
    # the error naming the plugin whose own code raised an exception (Services.fault), None for any other
    fault: Callable[[Exception], InvarlockError | None] = lambda exc: None
    # (group, name) -> whether that entry is a third-party plugin's (the doctor: which extras a run needs)
    third_party: Callable[[str, str], bool] = lambda group, name: False
    findings: list[d.Finding] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)

    @property
    def req(self) -> CertifyRequest:
        assert self.request is not None, "a check of the request runs only when the config check passed"
        return self.request


Check = Callable[[Preflight], None]
Checks = tuple[tuple[str, Check, tuple[str, ...]], ...]


def preflight_of(req: CertifyRequest, svc: Services, policy: Policy | None = None) -> Preflight:
    """The preflight of a run on `svc` (`policy` when it is already resolved: a resumed run's)."""
    return Preflight(
        request=req,
        loader=svc.loader,
        corpora=svc.corpora,
        edit_names=lambda: list(svc.edits),
        edit_of=svc.edits.__getitem__,
        probe=svc.probe,
        pools=svc.pools,
        tokens=svc.tokens,
        policy=policy,
        fault=svc.fault,
    )


def check_policy(pf: Preflight) -> None:
    """The tier's policy with the config's overrides, and the data able to meet it (E202, E005)."""
    pf.policy = policy_for(pf.req)
    pf.findings.append(policy_note(pf.policy, pf.req.config.eval.metric.kind))
    pf.findings.extend(ungated_chain(pf.policy))


def check_execution(pf: Preflight) -> None:
    """Where the paired scoring runs. `ray`: its extra is installed (E105) and, when the run has worker pools
    (certify, run; not the doctor), the cluster answers (E240)."""
    execution = pf.req.config.execution
    if execution is None:
        return
    if execution.backend != "ray":
        pf.findings.append(d.note("execution", d.D_EXECUTION, "paired scoring runs in this process"))
        return
    if pf.probe is not None and any(e.name == "ray" and e.missing for e in pf.probe.extras()):
        raise UsageError(
            "E105", "execution.backend ray needs the ray extra and ray is not installed", "pip install 'invarlock[ray]'"
        )
    if pf.pools is not None:
        pf.pools.check(execution.address)
    where = f"a Ray pool of {execution.actors} actor(s) at address {execution.address}"
    pf.findings.append(d.note("execution", d.D_EXECUTION, f"paired scoring runs on {where}"))


def check_device(pf: Preflight) -> None:
    """The configured device and dtype exist and the device is present here (E104); needs the probe."""
    if pf.probe is None:
        return
    pf.findings.extend(device_findings(pf.req.config.model, pf.probe.devices()))


def _check_model(pf: Preflight, role: str) -> None:
    model = pf.req.config.model if role == "baseline" else pf.req.subject
    if model is None:
        return
    base = pf.req.config.model
    same = role == "subject" and (model.id, model.adapter) == (base.id, base.adapter) and "baseline" in pf.tokenizers
    # E101-E104 when the reference does not resolve offline; a subject named as the baseline is read once.
    tokenizer = pf.tokenizers["baseline"] if same else pf.loader.tokenizer(model.id, adapter=model.adapter)
    pf.tokenizers[role] = tokenizer
    message = f"{role} {model.id} resolves offline (tokenizer {tokenizer.digest()[:12]})"
    pf.findings.append(d.note(role, d.D_MODEL, message))


def check_baseline(pf: Preflight) -> None:
    _check_model(pf, "baseline")


def check_subject(pf: Preflight) -> None:
    _check_model(pf, "subject")


def tokenizers_differ(baseline_sha256: str, subject_sha256: str) -> AbortError:
    """E002: the subject does not share the baseline's tokenizer (windows could not be paired)."""
    return AbortError(
        "E002",
        f"tokenizers differ: baseline {baseline_sha256[:12]} vs subject {subject_sha256[:12]}",
        "certify a subject that shares the baseline's tokenizer",
    )


def check_tokenizers(pf: Preflight) -> None:
    """Baseline and subject share one tokenizer (E002); `run` edits the baseline, so it always does."""
    if "subject" not in pf.tokenizers:
        return
    base, subj = pf.tokenizers["baseline"].digest(), pf.tokenizers["subject"].digest()
    if base != subj:
        raise tokenizers_differ(base, subj)
    pf.findings.append(d.note("tokenizers", d.D_TOKENIZERS, f"baseline and subject share tokenizer {base[:12]}"))


# They always pair the models' matrices by name and shape (E002 otherwise); the variance guard does only for its
# `changed` targets, and not when it stops first (too small a calibration arm), so it is not counted.
PAIRING_GUARDS = ("spectral", "rmt")


def _pairing(pf: Preflight) -> list[str]:
    """The guards of the order that pair baseline and subject matrices: spectral and RMT, and variance when it
    targets the changed weights (it finds them by pairing; its `all_ffn` targets compare taps by name only)."""
    changed = pf.policy is not None and pf.policy.guards.variance.targets == "changed"
    return [g for g in pf.req.config.guards.order if g in PAIRING_GUARDS or (g == "variance" and changed)]


def check_shapes(pf: Preflight) -> None:
    """Baseline and subject state the same weight shapes (E002), when a guard of the order pairs their matrices
    (_pairing) and the loader tells each model's shape settings without loading weights (ShapeSettings): the guard would
    stop the run at the same E002 once both models (or, one at a time, the baseline's whole pass) were loaded."""
    req = pf.req
    pairing = _pairing(pf)
    if req.subject is None or not pairing or not isinstance(pf.loader, ShapeSettings):
        return
    base, subject = req.config.model, req.subject
    stated = [pf.loader.shape_settings(m.id, adapter=m.adapter) for m in (base, subject)]
    if stated[0] is None or stated[1] is None:
        return
    differ = [
        f"{k} {stated[0][k]} vs {stated[1][k]}" for k in stated[0] if k in stated[1] and stated[0][k] != stated[1][k]
    ]
    if differ:
        raise AbortError(
            "E002",
            f"weight shapes differ: baseline {base.id} and subject {subject.id} state {', '.join(differ)}",
            f"certify a subject with the baseline's architecture (the {pairing[0]} guard pairs their matrices)",
        )
    if stated[0]:
        shown = ", ".join(f"{k} {v}" for k, v in stated[0].items())
        pf.findings.append(d.note("shapes", d.D_SHAPES, f"baseline and subject state the same weight shapes ({shown})"))


MIN_CONTEXT = 2  # the shortest window: one token predicted from one before it


def check_context(pf: Preflight) -> None:
    """Each model's forward pass takes a window of `dataset.seq_len` tokens (E201), when its loader states the
    model's context (ContextLimit): a longer window failed only when scored, after the guards had run."""
    if not isinstance(pf.loader, ContextLimit):
        return
    seq_len = pf.req.config.dataset.seq_len
    stated = []
    for role, model in (("baseline", pf.req.config.model), ("subject", pf.req.subject)):
        if model is None:
            continue
        limit = pf.loader.context_length(model.id, adapter=model.adapter)
        if limit is not None and seq_len > limit:
            raise UsageError(
                "E201",
                f"dataset.seq_len {seq_len} is longer than the {role} {model.id}'s context of {limit} positions",
                f"set dataset.seq_len to {limit} or less"
                if limit >= MIN_CONTEXT
                else f"no window fits: check {model.id}'s config.json (max_position_embeddings)",
            )
        stated += [f"the {role}'s context of {limit} positions"] if limit is not None else []
    if stated:
        pf.findings.append(d.note("context", d.D_CONTEXT, f"windows of {seq_len} tokens fit {' and '.join(stated)}"))


def check_kind(pf: Preflight) -> None:
    """Each model's adapter scores the run's metric kind (E104), when its loader tells what the adapter scores
    (ScoredKinds): another kind failed only once the preview arm was scored, after both loads and the guards (as
    a fault of the adapter, E223, where it scored other tokens). A plugin's kind is its adapter's to check."""
    kind = pf.req.config.eval.metric.kind
    if kind not in BUILTIN_KINDS or not isinstance(pf.loader, ScoredKinds):
        return
    told = []
    models = [(role, m) for role, m in (("baseline", pf.req.config.model), ("subject", pf.req.subject)) if m]
    for role, model in models:
        found = pf.loader.scored_kinds(model.id, adapter=model.adapter)
        if found is None:
            continue
        adapter, kinds = found
        if kind not in kinds:
            raise UsageError(
                "E104",
                f"eval.metric.kind {kind}: the {role} {model.id} runs on adapter {adapter}, which scores "
                f"{' and '.join(kinds)}",
                f"set eval.metric.kind to {' or '.join(kinds)}, or give a model whose adapter scores {kind} "
                "(docs/user-guide.md, Models)",
            )
        told.append(f"the {role}'s adapter {adapter}")
    if told:
        verb = "scores" if len(told) == 1 else "score"
        pf.findings.append(d.note("kind", d.D_KINDS, f"{' and '.join(told)} {verb} eval.metric.kind {kind}"))


def check_examples(pf: Preflight) -> None:
    """A zero-shot prompt followed by its longest label continuation fits each model's context (E201): a label
    word of several tokens is fed after the prompt, which the context check bounds by `dataset.seq_len` alone. A
    classification head (`hf_seqcls`) reads the prompt only."""
    assert pf.planned is not None, "the windows check plans or raises"
    longest = _longest_fed(pf.planned[1].values())
    if longest is None or not isinstance(pf.loader, ContextLimit):
        return
    window_id, prompt, continuation = longest
    for role, model in (("baseline", pf.req.config.model), ("subject", pf.req.subject)):
        if model is None or model.adapter == "hf_seqcls":
            continue
        limit = pf.loader.context_length(model.id, adapter=model.adapter)
        if limit is not None and prompt + continuation > limit:
            raise UsageError(
                "E201",
                f"example {window_id}'s prompt of {prompt} tokens and a label word of {continuation} tokens after it "
                f"are longer than the {role} {model.id}'s context of {limit} positions",
                f"set dataset.seq_len to {max(limit - continuation, 1)} or less, or choose shorter label words",
            )


def _longest_fed(rows: Collection[Row]) -> tuple[int, int, int] | None:
    """(window id, prompt tokens, continuation tokens) of the longest sequence zero-shot scoring feeds after a
    prompt (hf_zero_shot: the prompt alone when every label word is one token); None when it feeds none."""
    fed = [
        (w.window_id, len(w.tokens), max(map(len, w.candidates)))
        for w in rows
        if isinstance(w, TokenWindow) and w.candidates and any(len(c) > 1 for c in w.candidates)
    ]
    return max(fed, key=lambda f: f[1] + f[2], default=None)


def check_windows(pf: Preflight) -> None:
    """Plan the windows with the baseline's tokenizer (E301/E304 corpus, E303 too few windows, E201 plan); with
    `reuse: false` (`--no-reuse`) the corpus is tokenized anew rather than read from the token stream cache."""
    assert pf.policy is not None, "check_policy runs first"
    cfg = pf.req.config
    fewer = not pf.policy.enforce_floors
    tokens = pf.tokens if cfg.eval.reuse is not False else None
    planned, rows = planning.plan_with(pf.tokenizers["baseline"], pf.corpora, cfg, allow_fewer=fewer, tokens=tokens)
    pf.planned = (planned, rows)
    if "context" not in pf.failed:  # a context too short for the windows is that check's error already
        check_examples(pf)
    pf.findings.extend(window_findings(planned, cfg, pf.policy))


# (name, check, the checks it needs): the order is the order a run meets them.
REQUEST_CHECKS: Checks = (
    ("policy", check_policy, ("config",)),
    ("edit", check_edit, ("config", "extras")),
    ("execution", check_execution, ("config", "extras")),
)
INPUT_CHECKS: Checks = (
    ("device", check_device, ("config", "extras")),
    ("baseline", check_baseline, ("config", "extras")),
    ("subject", check_subject, ("config", "extras")),
    ("tokenizers", check_tokenizers, ("baseline", "subject")),
    ("shapes", check_shapes, ("baseline", "subject")),
    ("context", check_context, ("baseline", "subject")),
    ("kind", check_kind, ("baseline", "subject")),
    ("weights", check_edit_weights, ("edit", "baseline", "subject")),
    ("windows", check_windows, ("policy", "baseline")),
)


def run_checks(pf: Preflight, checks: Checks, *, stop: bool) -> None:
    """Run `checks` in order. `stop`: raise the first error (certify, run); otherwise record it as an ERROR
    finding and skip the checks that need it (doctor)."""
    for name, check, needs in checks:
        blocked = [n for n in needs if n in pf.failed]
        if blocked:
            pf.failed.add(name)
            pf.findings.append(d.note(name, d.D_SKIPPED, f"{name} not checked: it needs the {blocked[0]} check"))
            continue
        try:
            check(pf)
        except Exception as exc:  # an InvarlockError, or a plugin's own exception told as one (E224)
            known = exc if isinstance(exc, InvarlockError) else pf.fault(exc)
            if known is None or stop:
                raise
            pf.failed.add(name)
            pf.findings.append(d.error_finding(name, known))
