"""InvarLock: certify that a weight edit of a language model preserves quality (docs/python-api.md).

    import invarlock
    cert = invarlock.certify("demo:smollm2-135m", "demo:smollm2-135m", edit={"name": "quant_rtn", "plan": {"bits": 8}})
    report = invarlock.verify(cert, tier="conservative")

`import invarlock` imports nothing heavy: each name below is imported on first use, and torch only when a
model is loaded. Errors are `InvarlockError`s carrying the CLI's E-code, message, hint and exit code.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invarlock.application.verification.verify_report import VerifyReport
    from invarlock.cli.api import certify, resume_certify
    from invarlock.cli.api_verify import load_certificate, render_report, replay, verify
    from invarlock.domain.certificate import Certificate
    from invarlock.domain.errors import AbortError, IntegrityError, InvarlockError, UsageError

__all__ = [
    "AbortError",
    "Certificate",
    "IntegrityError",
    "InvarlockError",
    "UsageError",
    "VerifyReport",
    "__version__",
    "certify",
    "load_certificate",
    "render_report",
    "replay",
    "resume_certify",
    "verify",
]

_HOMES = {
    "certify": "invarlock.cli.api",
    "load_certificate": "invarlock.cli.api_verify",
    "render_report": "invarlock.cli.api_verify",
    "replay": "invarlock.cli.api_verify",
    "resume_certify": "invarlock.cli.api",
    "verify": "invarlock.cli.api_verify",
    "Certificate": "invarlock.domain.certificate",
    "VerifyReport": "invarlock.application.verification.verify_report",
    "AbortError": "invarlock.domain.errors",
    "IntegrityError": "invarlock.domain.errors",
    "InvarlockError": "invarlock.domain.errors",
    "UsageError": "invarlock.domain.errors",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from invarlock.cli.version import tool_version

        return tool_version()
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'invarlock' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
