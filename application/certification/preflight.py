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
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.policy import Policy
from invarlock.domain.windows import Row
from invarlock.ports.corpus import CorpusResolver, Tokenizer, TokenStreamCache
from invarlock.ports.execution import ScoringPools
from invarlock.ports.loader import ModelLoader, OptionsCheck
from invarlock.ports.system import SystemProbe

from ..services import Services
from . import planning
from .input_steps import load_options
from .model_identity import tokenizers_differ
from .preflight_edit import check_edit, check_edit_weights
from .preflight_models import check_context, check_examples, check_kind, check_shapes
from .preflight_notes import device_findings, policy_note, ungated_chain, window_findings
from .run_request import CertifyRequest, policy_naming_file
from .scoring_mode import held_alone_refusal


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
    config_file: str | None = None  # the doctor's config: an E202 of its settings names it, as run/certify do
    # the error naming the plugin whose own code raised an exception (Services.fault), None for any other
    fault: Callable[[BaseException], InvarlockError | None] = lambda exc: None
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
    pf.policy = policy_naming_file(pf.req, pf.config_file)
    pf.findings.append(policy_note(pf.policy, pf.req.config.eval.metric.kind))
    pf.findings.extend(ungated_chain(pf.policy, pf.req.config.eval.metric.kind))


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
        pf.pools.check(execution.address, execution.actors)
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
    if isinstance(pf.loader, OptionsCheck):  # E104 a dtype or device map its runtime does not take
        pf.loader.check_options(model.id, load_options(model, pf.req.config.eval.batch_size))
    pf.tokenizers[role] = tokenizer
    message = f"{role} {model.id} resolves offline (tokenizer {tokenizer.digest()[:12]})"
    pf.findings.append(d.note(role, d.D_MODEL, message))


def check_baseline(pf: Preflight) -> None:
    _check_model(pf, "baseline")


def check_subject(pf: Preflight) -> None:
    _check_model(pf, "subject")


def check_sequential(pf: Preflight) -> None:
    """`eval.sequential: true` with a model whose side of KL and top-1 agreement cannot be kept (E104): the run
    stopped once the baseline was loaded and fingerprinted (scoring_mode.held_alone_refusal)."""
    why = held_alone_refusal(pf.req, pf.loader)
    if why is not None:
        raise UsageError(
            "E104",
            f"eval.sequential: true, but {why}",
            "hold both models (eval.sequential: false, --no-sequential: KL measured in lockstep), or set "
            "eval.secondary.measure: false",
        )


def check_tokenizers(pf: Preflight) -> None:
    """Baseline and subject share one tokenizer (E002); `run` edits the baseline, so it always does."""
    if "subject" not in pf.tokenizers:
        return
    base, subj = pf.tokenizers["baseline"].digest(), pf.tokenizers["subject"].digest()
    if base != subj:
        raise tokenizers_differ(base, subj)
    pf.findings.append(d.note("tokenizers", d.D_TOKENIZERS, f"baseline and subject share tokenizer {base[:12]}"))


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
    ("sequential", check_sequential, ("baseline", "subject")),
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
        except (Exception, SystemExit) as exc:  # an InvarlockError, or a plugin's own exception told as one (E224)
            known = exc if isinstance(exc, InvarlockError) else pf.fault(exc)
            if known is None or stop:
                raise
            pf.failed.add(name)
            pf.findings.append(d.error_finding(name, known))
