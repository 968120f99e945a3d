"""Reading the certificate an auditor's script is given; like the scripts, it imports nothing from invarlock.

A missing argument, an unreadable file, one that is not JSON or not an InvarLock certificate, or a certificate of
a kind the script does not recompute: one line on stderr naming the file and exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

SECTIONS = ("evidence", "primary_metric", "bootstrap", "dataset")
# What a value of the wrong form raises in the scripts' arithmetic (a missing key, a null or listed section, an
# empty arm's zero division, numpy's warning of one, a negative replicate count numpy refuses, a huge integer)
MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError, SystemError, RuntimeWarning)
T = TypeVar("T")
# What `invarlock verify` recomputes at most (VERIFY_MAX_REPLICATES and VERIFY_MAX_BOOTSTRAP_CELLS in
# domain/policy.py; a test holds them equal): a certificate stating 10**12 replicates made the scripts ask
# hashlib for terabytes (MemoryError) where verify refuses it.
MAX_REPLICATES = 10_000
MAX_BOOTSTRAP_CELLS = 10_000_000


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
    except RecursionError:
        refuse(f"{path}: not an InvarLock certificate (its JSON nests deeper than Python's decoder goes)")
    if not isinstance(cert, dict) or not all(isinstance(cert.get(s), dict) for s in SECTIONS):
        refuse(f"{path}: not an InvarLock certificate (it lacks one of {', '.join(SECTIONS)})")
    kind = cert["primary_metric"].get("kind")
    if kinds is not None and kind not in kinds:
        refuse(f"{path}: primary_metric.kind is {kind!r}; this script recomputes {' and '.join(kinds)}")
    _refuse_oversized_bootstrap(path, cert)
    return cert


def _refuse_oversized_bootstrap(path: str, cert: dict) -> None:
    """Exit 2 when a stated replicate count, or its cells over the largest arm, exceed what verify recomputes."""
    policy = cert.get("policy")
    resolved = policy.get("resolved") if isinstance(policy, dict) else None
    arms = [cert["evidence"].get(arm) for arm in ("preview", "final")]
    # every list an arm holds: the scripts resample the one they read (tokens_scored, NLLs, comparisons), whatever
    # window_ids says (an empty window_ids beside 10**6 NLL rows slipped past a bound read from window_ids)
    windows = max((len(v) for a in arms if isinstance(a, dict) for v in a.values() if isinstance(v, list)), default=0)
    for where, section in (("bootstrap", cert["bootstrap"]), ("policy.resolved", resolved)):
        b = section.get("replicates") if isinstance(section, dict) else None
        if type(b) is not int:
            continue  # malformed: the recomputation says so
        if b > MAX_REPLICATES:
            refuse(f"{path}: {where}.replicates is {b}, above the {MAX_REPLICATES} invarlock verify recomputes")
        if b * windows > MAX_BOOTSTRAP_CELLS:
            cells = f"{where}.replicates {b} x {windows} windows exceeds the {MAX_BOOTSTRAP_CELLS} cells"
            refuse(f"{path}: {cells} invarlock verify recomputes")


def scored_arm(path: str, cert: dict) -> str:
    """The arm a script recomputes: "final", or "preview" for a rollback certificate (no final arm: the preview
    arm decided it). Exit 2 when the status and the evidence disagree (a "rollback" that still holds a final arm,
    or a completed certificate without one) or the arm is missing."""
    rollback = cert.get("status") == "rollback"
    final = cert["evidence"].get("final")
    if rollback and final is not None:
        refuse(f"{path}: status is rollback, yet the evidence holds a final arm: the certificate contradicts itself")
    if not rollback and final is None:
        refuse(f"{path}: a certificate that did not roll back has no final arm: nothing to recompute from")
    name = "preview" if rollback else "final"
    if not isinstance(cert["evidence"].get(name), dict):
        refuse(f"{path}: evidence.{name} is missing: nothing to recompute from")
    return name


def recomputed(path: str, compute: Callable[[], T]) -> T:
    """compute(), or one line on stderr naming the file and exit status 2 when a value it reads is missing or not
    of the form the statistics need."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # numpy's 0/0 of a zero-token arm: no number to compare
            return compute()
    except MALFORMED as exc:
        said = (str(exc).splitlines() or [""])[0]
        refuse(f"{path}: a value the recomputation reads is missing or malformed ({type(exc).__name__}: {said})")
