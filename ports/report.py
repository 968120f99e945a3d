"""Report port: lays out a decoded certificate as a readable document (HTML page, Markdown, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from invarlock.domain.certificate import Certificate

ReportFormat = Literal["html", "md"]
CheckFailure = tuple[str, str]  # (verify check name, what did not hold)


class ReportRenderer(Protocol):
    """Presentation only: it neither verifies nor refuses a certificate it can lay out."""

    def render(self, cert: Certificate, failures: Sequence[CheckFailure]) -> str:
        """The whole document for `cert`; `failures` become a NOT VERIFIED banner ([] when verified).

        Every string taken from the certificate is escaped for the target format.

        Raises:
            UsageError: E601 when a free-form member has a shape the layout cannot express (guard sections are
                typed: a certificate whose guard sections do not fit them does not decode).
        """
        ...
