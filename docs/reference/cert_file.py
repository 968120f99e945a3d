"""Reading the certificate an auditor's script is given; like the scripts, it imports nothing from invarlock.

A missing argument, an unreadable file, one that is not JSON or not an InvarLock certificate, or a certificate of
a kind the script does not recompute: one line on stderr naming the file and exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import NoReturn

SECTIONS = ("evidence", "primary_metric", "bootstrap", "dataset")


def refuse(message: str) -> NoReturn:
    """Print `message` on stderr and exit with status 2 (bad input)."""
    print(message, file=sys.stderr)
    sys.exit(2)


def read_certificate(argv: Sequence[str], usage: str, kinds: Sequence[str] | None = None) -> dict:
    """The certificate `argv[1]` names, as JSON; `kinds`: the `primary_metric.kind`s the calling script handles."""
    if len(argv) < 2:
        refuse(f"usage: {usage}")
    path = argv[1]
    try:
        with open(path, encoding="utf-8") as handle:
            cert = json.load(handle)
    except OSError as exc:
        refuse(f"{path}: cannot be read ({exc.strerror or exc})")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        refuse(f"{path}: not a JSON certificate ({exc})")
    if not isinstance(cert, dict) or not all(isinstance(cert.get(s), dict) for s in SECTIONS):
        refuse(f"{path}: not an InvarLock certificate (it lacks one of {', '.join(SECTIONS)})")
    kind = cert["primary_metric"].get("kind")
    if kinds is not None and kind not in kinds:
        refuse(f"{path}: primary_metric.kind is {kind!r}; this script recomputes {' and '.join(kinds)}")
    return cert
