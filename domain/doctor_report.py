"""`invarlock doctor --json`: the findings, their count by severity, and what they add up to."""

from __future__ import annotations

import msgspec

from .diagnostics import SEVERITIES, Finding


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    errors: int
    warnings: int
    notes: int


class Resolution(msgspec.Struct, frozen=True, kw_only=True):
    """What the findings add up to. `exit_code` is the status the run would stop with before loading a model
    (its first error's: 2 usage/config/input, 3 abort), 0 when it would start; `first_error` that error's D-code
    and `error_code` its E-code. The rest is the run the doctor checked, as certify/run would resolve it."""

    exit_code: int
    ready: bool
    first_error: str | None
    error_code: str | None
    command: str | None
    tier: str | None
    profile: str | None
    baseline: str | None
    subject: str | None
    events: str


class DoctorReport(msgspec.Struct, frozen=True, kw_only=True):
    """`invarlock doctor --json`: findings in the order a run meets the checks."""

    format_version: str = "doctor-v1"
    summary: Summary
    findings: list[Finding]
    resolution: Resolution


def summary_of(findings: list[Finding]) -> Summary:
    """How many findings of each severity."""
    count = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    return Summary(errors=count["error"], warnings=count["warning"], notes=count["note"])
