"""render_report: a certificate as a self-contained HTML page or Markdown, after re-verifying it."""

from __future__ import annotations

from typing import Literal

from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError, UsageError

from .verify import verify_certificate

ReportFormat = Literal["html", "md"]

_UNALTERED = "pass the evaluation.cert.json that invarlock wrote, unaltered"


def verification_failures(cert: c.Certificate) -> list[tuple[str, str]]:
    """(check, detail) for every verify check that fails; [] when digest and all recomputations hold.

    A report never refuses a decodable certificate: failures become a NOT VERIFIED banner instead.
    """
    try:
        report = verify_certificate(cert)
    except (InvarlockError, ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
        detail = exc.message if isinstance(exc, InvarlockError) else f"{type(exc).__name__}: {exc}"
        return [("verify", f"verification could not run: {detail}")]
    return [(ch.name, ch.detail) for ch in report.checks if not ch.ok]


def render_report(cert: c.Certificate, fmt: ReportFormat) -> str:
    """The report text for `cert` in `fmt` ("html" or "md"); verification failures are shown, not raised.

    Raises:
        UsageError: E601 when a free-form member has a shape the layout does not expect (guard sections are
            typed: a certificate whose guard sections do not fit them does not decode).
    """
    from .report_html import render_html
    from .report_md import render_md

    failures = verification_failures(cert)
    try:
        return render_html(cert, failures) if fmt == "html" else render_md(cert, failures)
    except (AttributeError, LookupError, TypeError, ValueError, RecursionError) as exc:
        # The certificate decoded but some free-form member has a shape the layout does not expect.
        raise UsageError("E601", f"certificate cannot be reported: {type(exc).__name__}: {exc}", _UNALTERED) from exc
