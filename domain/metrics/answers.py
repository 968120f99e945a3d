"""A metric kind's answers, checked where the certificate is built and gated, and where scores are checked
(a third-party kind's, usually).

`assess` must return an Assessment of plain numbers (numpy scalars count as the numbers they hold) and `flags`
a mapping of every flag to (True | False | "not_applicable", reason) that includes `primary_metric_acceptable`:
without it a kind would certify PASS with no gate on its statistic, and verify, running the same code, would
agree. `scored_tokens` must return (a count of tokens >= 1, the rule in words). `overhead` must return a
GuardOverhead of finite numbers that states the repaired weights, bare NLLs and limit it was given (verify
recomputes it from those as stated). Anything else is E223 naming the kind, where it ended in E999 (the codec
cannot encode numpy scalars), in a certificate verify refuses as malformed (E601), or in a fault blamed on the
adapter whose scores it checked."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import msgspec
import numpy as np

from .. import certificate as c
from ..errors import UsageError
from ..numpy_scalars import numpy_enc_hook, plain_number
from .base import Assessment

PRIMARY_FLAG = "primary_metric_acceptable"  # the flag gating the statistic: every kind decides it


def _fault(kind: str, what: str) -> UsageError:
    return UsageError(
        "E223",
        f"metric kind '{kind}': its {what}",
        "fix or uninstall the plugin that provides it (`invarlock plugins metrics` names it); "
        "domain/metrics/base.py defines the Metric protocol",
    )


def checked_assessment(kind: str, found: object, evidence: c.Evidence, min_windows_ci: int) -> Assessment:
    """`found` (the kind's `assess` of `evidence`) as an Assessment of plain values whose arms count the evidence's
    windows and whose interval is approximate by the policy's `min_windows_ci`: the profile's floors are decided
    from them (a kind stating 500 windows passed release on four). E223 otherwise."""
    if not isinstance(found, Assessment):
        raise _fault(kind, f"assess() returned {type(found).__name__}, not an Assessment")
    try:
        plain = msgspec.convert(msgspec.to_builtins(found, enc_hook=numpy_enc_hook), Assessment)
    except (msgspec.ValidationError, TypeError) as exc:
        raise _fault(kind, f"assess() returned an Assessment that is not one: {exc}") from None
    pm = plain.primary
    for name, stated, arm in (("preview", pm.preview, evidence.preview), ("final", pm.final, evidence.final)):
        counted = None if arm is None else len(arm.window_ids)
        if (None if stated is None else stated.windows) != counted:
            said = "no" if stated is None else stated.windows
            raise _fault(kind, f"assess() states {said} {name} windows, where the evidence holds {counted or 'none'}")
    approximate = pm.final is None or pm.final.windows < min_windows_ci
    if pm.ci_approximate != approximate:
        raise _fault(
            kind,
            f"assess() states ci_approximate {pm.ci_approximate}, where the final arm's windows give "
            f"{approximate} (min_windows_ci {min_windows_ci})",
        )
    return plain


def checked_flags(kind: str, found: object) -> dict[str, tuple[c.Flag, str]]:
    """`found` (the kind's `flags`) as flag name → (flag, reason), `primary_metric_acceptable` among them."""
    if not isinstance(found, Mapping):
        raise _fault(kind, f"flags() returned {type(found).__name__}, not {{flag: (flag, reason)}}")
    if PRIMARY_FLAG not in found:
        raise _fault(kind, f"flags() decide no {PRIMARY_FLAG}: a metric kind must gate its statistic")
    flags: dict[str, tuple[c.Flag, str]] = {}
    for name, pair in found.items():
        flag, reason = pair if isinstance(pair, tuple) and len(pair) == 2 else (None, None)
        flag = bool(flag) if isinstance(flag, np.bool_) else flag
        if not (type(flag) is bool or flag == "not_applicable") or not isinstance(reason, str):
            raise _fault(kind, f"flags() decided {name} = {pair!r}, not (True | False | 'not_applicable', reason)")
        flags[str(name)] = (flag, reason)
    if type(flags[PRIMARY_FLAG][0]) is not bool:  # "not_applicable" would leave the statistic ungated: PASS on anything
        said = f"flags() decided {PRIMARY_FLAG} = {found[PRIMARY_FLAG]!r}: a metric kind must gate its statistic"
        raise _fault(kind, said)
    return flags


def checked_overhead(
    kind: str, found: object, *, bare_subject: Sequence[float], repaired: Sequence[str], limit: float
) -> c.GuardOverhead:
    """`found` (the kind's `overhead`) as a GuardOverhead of plain finite numbers stating what it was given."""
    if not isinstance(found, c.GuardOverhead):
        raise _fault(kind, f"overhead() returned {type(found).__name__}, not a GuardOverhead")
    try:
        plain = msgspec.convert(msgspec.to_builtins(found, enc_hook=numpy_enc_hook), c.GuardOverhead)
    except (msgspec.ValidationError, TypeError) as exc:
        raise _fault(kind, f"overhead() returned a GuardOverhead that is not one: {exc}") from None
    given = {"repaired_weights": sorted(repaired), "bare_subject_nll": list(bare_subject), "limit": limit}
    for name, value in given.items():
        if getattr(plain, name) != value:
            raise _fault(kind, f"overhead() returned {name} = {getattr(plain, name)!r}, not the {value!r} it was given")
    for name in ("bare_ppl", "guarded_ppl", "ratio"):
        if not math.isfinite(getattr(plain, name)):
            raise _fault(kind, f"overhead() returned {name} = {getattr(plain, name)!r}, not a finite number")
    return plain


def checked_scored_tokens(kind: str, found: object) -> tuple[int, str]:
    """`found` (the kind's `scored_tokens`) as (a count of tokens >= 1, the rule in words)."""
    count, rule = found if isinstance(found, tuple) and len(found) == 2 else (None, None)
    count = plain_number(count)
    if type(count) is not int or count < 1 or not isinstance(rule, str):
        raise _fault(kind, f"scored_tokens() returned {found!r:.80}, not (a count of tokens >= 1, the rule in words)")
    return count, rule
