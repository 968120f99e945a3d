"""Preflight findings (`invarlock doctor`): what a check found, with a stable D-code.

D-codes: an ERROR finding is an E-code a run would stop with before loading a model, and its D-code carries
the E-code's number (`E303` → `D303`); findings only the doctor reports (warnings, notes) use `D9xx`. The
table of codes is docs/reference/doctor.md.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .errors import InvarlockError

Severity = Literal["error", "warning", "note"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "note")

D_CONFIG = "D900"  # note: the config's keys and types are valid
D_POLICY = "D901"  # note: tier, profile and the floors the data must meet
D_MODEL = "D902"  # note: a model reference resolves offline (its tokenizer digest)
D_TOKENIZERS = "D903"  # note: baseline and subject share one tokenizer
D_WINDOWS = "D904"  # note: windows the corpus gives and the plan
D_SHRUNK = "D905"  # warning: dev profile, the corpus is too small and the arms shrink
D_TOKEN_FLOOR = "D906"  # warning: the final arm cannot reach the tier's token floor (the gate fails)
D_DEVICE = "D907"  # note/warning: device and dtype
D_EXTRA = "D908"  # note: an optional extra and its packages
D_STORE = "D909"  # note: the event store (new, or its runs and event versions)
D_STORE_VERSIONS = "D910"  # warning: the store holds event versions this release does not know
D_DISK = "D911"  # note/warning: free disk space for the event store
D_SKIPPED = "D912"  # note: a check not run because one it needs found an error
D_EXECUTION = "D913"  # note: where the paired scoring runs (in process, or a Ray worker pool)
D_CONTEXT = "D914"  # note: the windows fit each model's stated context
D_SHAPES = "D915"  # note: baseline and subject state the same weight shapes
D_HOLDING = "D916"  # note: whether the run holds one model at a time or both together, and why
D_KEPT_ROOM = "D917"  # warning: too little room in the temporary folder for the baseline's kept hidden states
D_KINDS = "D918"  # note: each model's adapter scores the run's metric kind
D_EDIT_WEIGHTS = "D919"  # note: the weights the edit's plan names are the edited model's
D_STORE_ALTERED = "D920"  # warning: the store holds rows of a type or version no invarlock writes (altered)
D_UNGATED_CHAIN = "D921"  # warning: guards.order leaves out a guard the tier gates: the verdict will be FAIL
D_PADDED_BATCHES = "D922"  # warning: eval.batch_size pads every pass beyond the largest arm
D_CALIBRATION_SHORT = "D923"  # warning: dev shrank the calibration arm below the variance guard's need


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One preflight result.

    `check` names the check (config, policy, edit, extras, device, store, disk, baseline, subject, tokenizers,
    shapes, context, kind, windows). For an error, `error_code` is the E-code the run would stop with and `exit_code`
    its exit status (2 usage/config/input, 3 abort); a warning or note has neither (`exit_code` 0).
    """

    severity: Severity
    code: str
    check: str
    message: str
    hint: str = ""
    error_code: str | None = None
    exit_code: int = 0

    def line(self) -> str:
        """`ERROR: what — how to fix [INVARLOCK:D303]` (the hint only when there is one)."""
        text = f"{self.message} — {self.hint}" if self.hint else self.message
        return f"{self.severity.upper()}: {text} [INVARLOCK:{self.code}]"


def error_finding(check: str, exc: InvarlockError) -> Finding:
    """The ERROR finding of an error a run would stop with: its D-code carries the E-code's number."""
    return Finding(
        severity="error",
        code="D" + exc.code[1:],
        check=check,
        message=exc.message,
        hint=exc.hint,
        error_code=exc.code,
        exit_code=exc.exit_code,
    )


def note(check: str, code: str, message: str, hint: str = "") -> Finding:
    """A note: a fact about a run that can start (one of the D9xx codes above)."""
    return Finding(severity="note", code=code, check=check, message=message, hint=hint)


def warning(check: str, code: str, message: str, hint: str = "") -> Finding:
    """A warning: the run can start, but something will likely go wrong or differ from what was asked."""
    return Finding(severity="warning", code=code, check=check, message=message, hint=hint)


def first_error(findings: list[Finding]) -> Finding | None:
    """The error the run would stop with: the first in check order (None when the run would start)."""
    return next((f for f in findings if f.severity == "error"), None)
