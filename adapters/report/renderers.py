"""The ReportRenderer adapters: one per format, each a thin shell over its layout module."""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import certificate as c
from invarlock.ports.report import CheckFailure

from .html import render_html
from .layout import laid_out
from .md import render_md


class HTMLReportRenderer:
    """One self-contained HTML page: inline CSS and SVG, no JavaScript, no external resources."""

    def render(self, cert: c.Certificate, failures: Sequence[CheckFailure]) -> str:
        return laid_out(render_html, cert, failures)


class MarkdownReportRenderer:
    """The same facts as the HTML page, as Markdown text and pipe tables."""

    def render(self, cert: c.Certificate, failures: Sequence[CheckFailure]) -> str:
        return laid_out(render_md, cert, failures)
