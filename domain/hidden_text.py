"""Characters a reader cannot see but a terminal or a renderer obeys, shown as their escapes instead.

A string from a certificate, an event or a path must not move the cursor, colour text, write the clipboard,
start a line of its own or show a model's name reversed, whether it reaches a terminal (cli/console.py) or a
report (adapters/report/visible.py).
"""

from __future__ import annotations

import re

# C0 controls (newline and carriage return included), DEL, C1 controls, the bidi marks, overrides and isolates.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_hidden(text: str, *, keep: str = "") -> str:
    """`text` with each hidden character not in `keep` shown as its `\\x..` / `\\u....` escape."""

    def shown(match: re.Match[str]) -> str:
        char = match.group()
        return char if char in keep else char.encode("unicode_escape").decode("ascii")

    return _HIDDEN.sub(shown, text)
