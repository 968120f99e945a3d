"""render_report: a certificate as a self-contained HTML page or Markdown, after re-verifying it."""

from __future__ import annotations

from typing import Any, Literal

from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError, UsageError

from .verify import verify_certificate

ReportFormat = Literal["html", "md"]

_UNALTERED = "pass the evaluation.cert.json that invarlock wrote, unaltered"
# What each free-form member of a guard section must be for the report to lay it out as tables.
_MEMBER_SHAPES: dict[str, type] = {
    "measurements": dict,
    "families": dict,
    "phases": dict,
    "violations": list,
    "top": list,
    "scales": list,
    "ab": dict,
}


def _json_kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def _member_problem(guard: str, key: str, value: Any) -> str | None:
    where, expected = f"guards.{guard}.{key}", _MEMBER_SHAPES[key]
    if value is None:
        return None
    if not isinstance(value, expected):
        return f"{where} is {_json_kind(value)}, expected {_json_kind(expected())}"
    if (
        isinstance(value, dict)
        and key in ("families", "phases")
        and not all(isinstance(v, dict) for v in value.values())
    ):
        return f"{where} must map each name to an object"
    if isinstance(value, list) and not all(isinstance(v, dict) for v in value):
        return f"{where} must be a list of objects"
    return None


def guard_shape_problem(cert: c.Certificate) -> str | None:
    """The first member of a guard section whose shape the report cannot lay out, or None when all fit."""
    for guard, section in sorted(cert.guards.items()):
        for key in _MEMBER_SHAPES:
            problem = _member_problem(guard, key, section.get(key))
            if problem is not None:
                return problem
    return None


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
        UsageError: E601 when a guard section has a shape no report can lay out (a list where an object
            belongs, ...): the certificate was not written by invarlock.
    """
    from .report_html import render_html
    from .report_md import render_md

    problem = guard_shape_problem(cert)
    if problem is not None:
        raise UsageError("E601", f"certificate cannot be reported: {problem}", _UNALTERED)
    failures = verification_failures(cert)
    try:
        return render_html(cert, failures) if fmt == "html" else render_md(cert, failures)
    except (AttributeError, LookupError, TypeError, ValueError, RecursionError) as exc:
        # The certificate decoded but some free-form member has a shape the layout does not expect.
        raise UsageError("E601", f"certificate cannot be reported: {type(exc).__name__}: {exc}", _UNALTERED) from exc
