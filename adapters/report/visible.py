"""Certificate text made visible: control characters and bidirectional overrides become escapes.

A report is read in a browser, a Markdown viewer or with `cat` in a terminal. A raw ESC in a model ref would
colour or move a terminal's text, and U+202E would show a ref reversed: either could make one model look like
another. The CLI escapes the same set (cli/console.py).
"""

from __future__ import annotations

import re
from html import escape as html_escape

_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """`text` with each control character (but tab and newline) and bidi control shown as its `\\x..`/`\\u....`
    escape."""
    return _HIDDEN.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def escape(text: str) -> str:
    """`text` for HTML and SVG: visible, then HTML-escaped (quotes included)."""
    return html_escape(visible(text))
