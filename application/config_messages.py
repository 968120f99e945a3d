"""msgspec's validation wording ("Expected `int`, got `str` - at `$.dataset.seq_len`") said in a config's terms:
the dotted key, what it must be and what it was, and a fix that names the key."""

from __future__ import annotations

import re

_AT = r" - at `\$\.?(?P<path>[^`]*)`$"
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`" + _AT)
_WRONG_TYPE = re.compile(r"Expected `(?P<expected>[^`]+)`, got `(?P<got>[^`]+)`" + _AT)
_OUT_OF_RANGE = re.compile(r"Expected `(?P<expected>[^`]+)` (?P<bound>[^`]+?)" + _AT)
_NOT_ALLOWED = re.compile(r"Invalid enum value (?P<value>.+?)" + _AT)

_WORDS = {
    "str": "text",
    "int": "an integer",
    "float": "a number",
    "array": "a list",
    "object": "a mapping",
    "bool": "true or false",
    "null": "null",
}


def _words(types: str) -> str:
    return " or ".join(_WORDS.get(t, t) for t in types.split(" | "))


def plain(text: str) -> tuple[str, str] | None:
    """(message, hint) for a msgspec ValidationError's text, or None for wording not recognised."""
    text = text.replace("[...]`", " values`")  # msgspec's path of a mapping's values
    if found := _MISSING.match(text):
        section, key = found["path"], found["field"]
        full = f"{section}.{key}" if section else key
        return f"{section or 'the config'} needs a `{key}:` key", f"add {full}"
    if found := _WRONG_TYPE.match(text):
        path, expected = found["path"], found["expected"]
        if found["got"] == "float" and "int" in expected.split(" | "):  # 50.0 or 5e1: "an integer, not a number"
            hint = f"write {path} as a whole number without a decimal point or exponent (50, not 50.0 or 5e1)"
            return f"{path} must be {_words(expected)}, not a decimal number", hint
        return f"{path} must be {_words(expected)}, not {_words(found['got'])}", f"fix {path}"
    if found := _OUT_OF_RANGE.match(text):
        path = found["path"]
        return f"{path} must be {_words(found['expected'])} {found['bound']}", f"fix {path}"
    if found := _NOT_ALLOWED.match(text):
        path = found["path"]
        return f"{path} cannot be {found['value']}", f"see {path} in docs/user-guide.md"
    return None
