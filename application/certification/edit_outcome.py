"""What an edit's `apply` returns, checked before it is recorded (ports/edits.py: an EditOutcome).

The edit_applied event records the outcome as it is, and verify requires of it what is checked here: its name
is the configured edit's, its resolved plan gives every configured key the configured value and `plan_digest`
is the sha256 of the plan's canonical JSON, and its counts are not negative. An edit returning anything else
(a third-party edit, usually) is refused naming it, instead of recording an event no replay decodes or issuing a
certificate verify voids."""

from __future__ import annotations

import msgspec
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.model import EditOutcome
from invarlock.domain.numpy_scalars import numpy_enc_hook

from ..config import EditConfig


def checked_outcome(found: object, edit: EditConfig, environment: dict[str, str]) -> EditOutcome:
    """`found` (what the edit `edit.name` returned) as an EditOutcome of plain values (numpy scalars as their
    numbers).

    Raises:
        UsageError: E223 naming the edit (and its plugin distribution) when it is none, or not this edit's.
    """
    origin = environment.get(f"plugin.edits.{edit.name}")

    def fault(what: str) -> UsageError:
        who = f"edit plugin '{edit.name}' ({origin})" if origin else f"edit '{edit.name}'"
        fix = f"fix or uninstall {origin.partition(' ')[0]}" if origin else "report it"
        return UsageError("E223", f"{who}: its apply() returned {what}", f"{fix}; ports/edits.py defines EditOutcome")

    if not isinstance(found, EditOutcome):
        raise fault(f"{type(found).__name__}, not an EditOutcome")
    try:
        outcome = msgspec.convert(msgspec.to_builtins(found, enc_hook=numpy_enc_hook), EditOutcome, strict=True)
        digest = sha256_hex(canonical_bytes(outcome.plan))
    except (msgspec.ValidationError, TypeError, InvarlockError) as exc:
        raise fault(f"an EditOutcome that is not one: {exc}") from None
    if outcome.name != edit.name:
        raise fault(f"the outcome of the edit {outcome.name!r}")
    wrong = [key for key, value in edit.plan.items() if key not in outcome.plan or outcome.plan[key] != value]
    if wrong:
        raise fault(f"a plan whose {wrong[0]!r} is not the configured {edit.plan[wrong[0]]!r}")
    if outcome.plan_digest != digest:
        raise fault("a plan_digest that is not the sha256 of its plan's canonical JSON")
    deltas = outcome.deltas
    counts = {"params_changed": deltas.params_changed, "layers_modified": deltas.layers_modified, **deltas.bitwidth_map}
    negative = next((name for name, count in counts.items() if count < 0), None)
    if negative is not None:
        raise fault(f"a negative count {negative} = {counts[negative]}")
    return outcome
