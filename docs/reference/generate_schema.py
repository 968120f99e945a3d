"""Write docs/reference/certificate.schema.json from the certificate Structs (run after changing them).

Usage: python docs/reference/generate_schema.py [OUT]   (default: next to this script)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from invarlock.domain.certificate import json_schema

DEFAULT_OUT = Path(__file__).with_name("certificate.schema.json")


def render() -> str:
    """The schema as committed: two-space indent, sorted keys, UTF-8, trailing newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    out.write_text(render(), encoding="utf-8")
    print(f"wrote {out}")
