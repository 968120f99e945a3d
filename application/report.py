"""render_report: a certificate as a readable document, after re-verifying it."""

from __future__ import annotations

from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError
from invarlock.ports.report import CheckFailure, ReportRenderer

from .verification.verify import verify_certificate


def verification_failures(cert: c.Certificate, raw: bytes | None = None) -> list[CheckFailure]:
    """(check, detail) for every verify check that fails; [] when digest and all recomputations hold. `raw`, the
    file's bytes, must be the canonical encoding, as verify requires of a file (a pretty-printed file, or one whose
    duplicate key hides another verdict, was reported as verified).

    A report never refuses a decodable certificate: failures become a NOT VERIFIED banner instead.
    """
    try:
        report = verify_certificate(cert, raw=raw)
    except (InvarlockError, ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
        detail = exc.message if isinstance(exc, InvarlockError) else f"{type(exc).__name__}: {exc}"
        return [("verify", f"verification could not run: {detail}")]
    return [(ch.name, ch.detail) for ch in report.checks if not ch.ok]


def render_report(cert: c.Certificate, renderer: ReportRenderer, raw: bytes | None = None) -> str:
    """The report text of `cert` (read from the bytes `raw`, when from a file) laid out by `renderer`;
    verification failures are shown, not raised.

    Raises:
        UsageError: E601 from the renderer when a free-form member has a shape no report can lay out.
    """
    return renderer.render(cert, verification_failures(cert, raw))
