"""`invarlock doctor`: the preflight of certify/run with every check run, reported as findings."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from invarlock.domain import diagnostics as d
from invarlock.domain.doctor_report import DoctorReport, Resolution, summary_of
from invarlock.domain.errors import InvarlockError
from invarlock.ports.corpus import CorpusResolver
from invarlock.ports.loader import ModelLoader
from invarlock.ports.system import SystemProbe

from ..certification.preflight import INPUT_CHECKS, REQUEST_CHECKS, Checks, Preflight, run_checks
from ..certification.run_request import CertifyRequest
from .holding import check_holding
from .system_checks import check_disk, check_extras, check_store


@dataclass(frozen=True)
class DoctorDeps:
    """What the doctor reads through: the model loader (tokenizers only), the corpora, the system probe and
    the names of the edits this installation has and, by name, the edit itself (to check its plan)."""

    loader: ModelLoader
    corpora: CorpusResolver
    probe: SystemProbe
    edit_names: Callable[[], Collection[str]]
    edit_of: Callable[[str], object] | None = None
    # the error naming the plugin whose own code raised an exception (E224): reported as that check's finding
    fault: Callable[[BaseException], InvarlockError | None] = lambda exc: None
    # whether the entry (group, name) is a third-party plugin's: a run whose adapters and edit all are needs no hf
    third_party: Callable[[str, str], bool] = lambda group, name: False


@dataclass(frozen=True)
class DoctorRequest:
    """The run to check, built as certify/run build it; when that failed, `config_error` says why (and only
    the machine is checked). `source` names the config (`config_file`: the file given, if any), `events` the
    event store path; `flag_errors` are what certify/run refuse in their output and key flags before a run
    starts (E608, E700-E702)."""

    request: CertifyRequest | None
    source: str
    events: str
    config_error: InvarlockError | None = None
    flag_errors: tuple[InvarlockError, ...] = ()
    config_file: str | None = None


# In the order a run meets them: extras at import, the request before the run is recorded, the store at the
# run's first append, the inputs before any weights load.
DOCTOR_CHECKS: Checks = (
    ("extras", check_extras, ()),
    *REQUEST_CHECKS,
    ("store", check_store, ()),
    ("disk", check_disk, ()),
    *INPUT_CHECKS,
    ("holding", check_holding, ("device", "sequential")),
)


def diagnose(dreq: DoctorRequest, deps: DoctorDeps) -> DoctorReport:
    """Every preflight check of the run `dreq` describes, loading no model weights. The resolution's exit code
    is the status that run would stop with before loading a model (0 when it would start)."""
    pf = Preflight(
        request=dreq.request,
        loader=deps.loader,
        corpora=deps.corpora,
        edit_names=deps.edit_names,
        edit_of=deps.edit_of,
        probe=deps.probe,
        events=dreq.events,
        fault=deps.fault,
        third_party=deps.third_party,
        config_file=dreq.config_file,
    )
    if dreq.config_error is not None:
        pf.failed.add("config")
        pf.findings.append(d.error_finding("config", dreq.config_error))
    else:
        pf.findings.append(d.note("config", d.D_CONFIG, f"{dreq.source}: every key and value is valid"))
    pf.findings.extend(d.error_finding("flags", error) for error in dreq.flag_errors)
    run_checks(pf, DOCTOR_CHECKS, stop=False)
    return DoctorReport(
        summary=summary_of(pf.findings), findings=pf.findings, resolution=_resolution(dreq, pf.findings)
    )


def _resolution(dreq: DoctorRequest, findings: list[d.Finding]) -> Resolution:
    error, req = d.first_error(findings), dreq.request
    return Resolution(
        exit_code=error.exit_code if error is not None else 0,
        ready=error is None,
        first_error=error.code if error is not None else None,
        error_code=error.error_code if error is not None else None,
        command=req.command if req is not None else None,
        tier=req.tier if req is not None else None,
        profile=req.profile if req is not None else None,
        baseline=req.config.model.id if req is not None else None,
        subject=req.subject.id if req is not None and req.subject is not None else None,
        events=dreq.events,
    )
