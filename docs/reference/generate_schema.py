"""Write docs/reference/certificate.schema.json from the certificate Structs (run after changing them).

Usage: python docs/reference/generate_schema.py [OUT]   (default: next to this script)
       make schema                                      (the same, with the project's .venv)

The bytes must not depend on the Python that runs this: Python 3.13 dedents `__doc__` at compile time, older
versions keep the source indentation, so every description is normalised here with `inspect.cleandoc`.
msgspec versions differ in the order they list the members of a union, so `anyOf` lists are sorted too.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

from invarlock.domain.certificate import json_schema

DEFAULT_OUT = Path(__file__).with_name("certificate.schema.json")


def normalise_doc(text: str) -> str:
    """One canonical form of a docstring, whether or not the compiler already dedented it."""
    return inspect.cleandoc(text)


def _canonical_key(node: Any) -> str:
    return json.dumps(node, sort_keys=True, ensure_ascii=False)


def canonical(node: Any) -> Any:
    """A copy of a JSON Schema tree in one canonical form: `description` strings through `normalise_doc`,
    `anyOf` members (an unordered set) sorted."""
    if isinstance(node, list):
        return [canonical(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description" and isinstance(value, str):
            out[key] = normalise_doc(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = sorted((canonical(item) for item in value), key=_canonical_key)
        else:
            out[key] = canonical(value)
    return out


def render() -> str:
    """The schema as committed: two-space indent, sorted keys, UTF-8, trailing newline."""
    schema = canonical(json_schema())
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    out.write_text(render(), encoding="utf-8")
    print(f"wrote {out}")
