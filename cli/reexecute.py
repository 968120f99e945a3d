"""The re-execution options of `invarlock verify` (--baseline, --subject, --sample, --sample-seed, --device, --exact,
--sequential)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionRequest
from invarlock.application.verification.verify_report import VerifyReport
from invarlock.domain import certificate as c
from invarlock.domain.errors import EXIT_INTEGRITY, UsageError
from invarlock.domain.policy import REEXECUTION_DEFAULT_SAMPLE

from .bootstrap import build_reexecution_deps


@dataclass(frozen=True)
class ReexecutionOptions:
    """What the recipient asked for on the command line (no model refs: plain verify only)."""

    baseline: str | None
    subject: str | None
    sample: str | None  # None: not given (REEXECUTION_DEFAULT_SAMPLE)
    sample_seed: int | None
    device: str | None
    exact: bool = False
    sequential: bool = False

    @property
    def requested(self) -> bool:
        return self.baseline is not None or self.subject is not None


_OPTIONS = (
    click.option("--baseline", default=None, help="re-execution audit: the baseline model you hold (path or hf:ID)"),
    click.option(
        "--subject",
        default=None,
        help="re-execution audit: the subject you hold (default: the baseline plus the certificate's built-in edit)",
    ),
    click.option(
        "--sample",
        default=None,
        help="windows re-scored per scored arm: a number or 'all' "
        f"(default: {REEXECUTION_DEFAULT_SAMPLE}; every guard matrix and tap is re-measured whatever the sample)",
    ),
    click.option(
        "--sample-seed", type=int, default=None, help="YOUR seed choosing the sample (default: fresh randomness)"
    ),
    click.option(
        "--device", "audit_device", default=None, help="device for the audit (default: the certificate's kind)"
    ),
    click.option(
        "--exact",
        is_flag=True,
        help="re-execution audit: every number bit for bit, whatever build the certificate states (you run the "
        "issuer's build)",
    ),
    click.option(
        "--sequential",
        is_flag=True,
        help="re-execution audit: hold one model at a time, the baseline released before the subject loads (the "
        "default for a certificate issued with eval.sequential)",
    ),
)


def reexecution_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the audit options to a click command; the command receives them as `reexecution`."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        baseline: str | None,
        subject: str | None,
        sample: str,
        sample_seed: int | None,
        audit_device: str | None,
        exact: bool,
        sequential: bool,
        **kwargs: Any,
    ) -> Any:
        options = ReexecutionOptions(baseline, subject, sample, sample_seed, audit_device, exact, sequential)
        return fn(*args, reexecution=options, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def refuse_audit_options_alone(options: ReexecutionOptions) -> None:
    """An audit option without the models to audit would be ignored: the recipient would believe a sample was
    re-executed that never was. The command calls it first (options.sample still tells --sample 16 from none)."""
    given = {"sample": options.sample, "sample_seed": options.sample_seed, "device": options.device}
    for name, value in {**given, "exact": options.exact, "sequential": options.sequential}.items():
        if value is not None and value is not False:  # --sample-seed 0 is given
            option = "--" + name.replace("_", "-")
            raise UsageError(
                "E200", f"{option} applies to the re-execution audit, which runs only with --baseline",
                "add --baseline (and --subject unless the certificate records a built-in edit), or drop " + option,
            )  # fmt: skip


_BIGINT_MAX = 2**63 - 1  # the audit views read sample and sample_seed as BIGINT (docs/audit.md): NULL beyond it


def _sample(text: str) -> int | None:
    given = text.strip()
    if given.lower() == "all":
        return None
    # ASCII digits only: str.isdigit() also holds for '²', which int() refuses (E999)
    if not (given.isascii() and given.isdigit()) or int(given) < 1:
        raise UsageError("E200", f"--sample must be a positive number or 'all', got {text!r}", "e.g. --sample 16")
    if int(given) > _BIGINT_MAX:
        raise UsageError(
            "E200", f"--sample {given} is above {_BIGINT_MAX} (the audit records it as a BIGINT)", "use --sample all"
        )
    return int(given)


def _seed(seed: int | None) -> int:
    if seed is None:
        return int.from_bytes(os.urandom(8), "little") >> 1
    if not -_BIGINT_MAX - 1 <= seed <= _BIGINT_MAX:
        raise UsageError(
            "E200",
            f"--sample-seed {seed} is not a 64-bit integer (the audit records it as a BIGINT)",
            f"use a seed from {-_BIGINT_MAX - 1} to {_BIGINT_MAX}, e.g. --sample-seed 1",
        )
    return seed


def _require_refs(options: ReexecutionOptions) -> str:
    if options.baseline is None:
        raise UsageError(
            "E200",
            "the re-execution audit needs --baseline (and --subject unless the certificate records a built-in edit)",
            "pass the models you hold",
        )
    for option, ref in (("--baseline", options.baseline), ("--subject", options.subject)):
        if ref is not None and not ref.strip():
            raise UsageError("E200", f"{option} is empty", "pass a model folder, hf:ORG/NAME or gguf:FILE")
    if options.device is not None and not options.device.strip():  # it loaded on the certificate's device
        raise UsageError("E200", "--device is empty", "pass auto, cpu, cuda or mps, or leave --device out")
    return options.baseline


def request_of(options: ReexecutionOptions) -> ReexecutionRequest:
    """The audit request; the default seed comes from os.urandom so the issuer cannot predict the sample."""
    return ReexecutionRequest(
        baseline=_require_refs(options),
        subject=options.subject,
        sample=_sample(str(REEXECUTION_DEFAULT_SAMPLE) if options.sample is None else options.sample),
        sample_seed=_seed(options.sample_seed),
        device=options.device,
        exact=options.exact,
        sequential=options.sequential,
    )


def audit_request(options: ReexecutionOptions) -> ReexecutionRequest | None:
    """The audit asked for, or None without model refs; called before plain verification, so that a bad audit
    option is refused before anything is checked (`--sample 0` printed the whole plain report, then E200)."""
    if not options.requested:
        refuse_audit_options_alone(options)
        return None
    return request_of(options)


def require_subject(cert: c.Certificate, request: ReexecutionRequest | None) -> None:
    """E200 when the audit has no subject to load and none to rebuild: `certify` records its subject's edit as
    "external" (domain/build.py). Checked before plain verification and before adapters import torch."""
    if request is not None and request.subject is None and cert.edit.name == "external":
        raise UsageError(
            "E200", "this certificate's subject is an external checkpoint (no recorded edit)", "pass it with --subject"
        )


def audit_certificate(
    cert: c.Certificate, request: ReexecutionRequest | None, events: str | None, report: VerifyReport
) -> None:
    """Run the audit `request` (none: nothing to do) and add each finding to `report`; a certificate that already
    failed an integrity check is not re-executed. With `events`, the audit is recorded as a stream of its
    own (the file is opened for writing)."""
    if request is None:
        return
    if report.exit_code == EXIT_INTEGRITY:
        report.add("reexec", False, "not run: the certificate already fails plain verification (see above)")
        return
    outcome = reexecute_certificate(cert, request, build_reexecution_deps(events))
    for name, ok, detail in outcome.findings:
        report.add(name, ok, detail)
    if outcome.unrecorded is not None:  # after the findings, which stand
        raise outcome.unrecorded
    if outcome.stream_id is not None:
        report.add("reexec:recorded", True, f"audit recorded as stream {outcome.stream_id} in {events}")
