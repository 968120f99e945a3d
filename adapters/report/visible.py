"""Certificate text made visible in a report: control characters and bidi controls become escapes
(domain/hidden_text.py). A report is read in a browser, a Markdown viewer or with `cat` in a terminal: a raw ESC in
a model ref would colour or move a terminal's text, and U+202E would show a ref reversed."""

from __future__ import annotations

from html import escape as html_escape

from invarlock.domain.hidden_text import escape_hidden


def visible(text: str) -> str:
    """`text` with each hidden character but tab and newline shown as its escape."""
    return escape_hidden(text, keep="\t\n")


def escape(text: str) -> str:
    """`text` for HTML and SVG: visible, then HTML-escaped (quotes included)."""
    return html_escape(visible(text))
