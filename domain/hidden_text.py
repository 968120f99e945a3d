"""Characters a reader cannot see but a terminal or a renderer obeys, shown as their escapes instead.

A string from a certificate, an event or a path must not move the cursor, colour text, write the clipboard,
start a line of its own or show a model's name reversed, whether it reaches a terminal (cli/console.py) or a
report (adapters/report/visible.py).
"""

from __future__ import annotations

import re

# C0 controls (newline and carriage return included), DEL, C1 controls; every format character (Unicode category
# Cf: the bidi marks, overrides and isolates, U+061C, zero-width spaces and joiners, the BOM, the tag block) and
# default-ignorable filler (soft hyphen, U+034F, Hangul fillers, variation selectors), which let two names that
# look alike differ; the line and paragraph separators U+2028/U+2029, which start a line of their own.
_HIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    "\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff]"
)


def escape_hidden(text: str, *, keep: str = "") -> str:
    """`text` with each hidden character not in `keep` shown as its `\\x..` / `\\u....` escape."""

    def shown(match: re.Match[str]) -> str:
        char = match.group()
        return char if char in keep else char.encode("unicode_escape").decode("ascii")

    return _HIDDEN.sub(shown, text)
