"""`certify --resume`'s outputs checked against what the run recorded: its certificate goes to the recorded
output.dir's folder of the run, which must not be at or inside --export."""

from __future__ import annotations

import os

from invarlock.domain import events as ev
from invarlock.domain.errors import UsageError
from invarlock.ports.store import EventStore

from .outputs import require_apart


def refuse_certificate_in_export(
    events: str | os.PathLike[str], run_id: str, export: str | os.PathLike[str], recorded: str | None
) -> None:
    """E608 before a resume whose certificate, written to the recorded output.dir's folder of the run, would be at
    or inside --export: the fresh run's refusal, where a resume knows the run's folder too."""
    if recorded is None:
        return
    folder = os.path.join(recorded, run_id)
    try:
        require_apart(events, folder, os.fspath(export))
    except UsageError:
        said = f"the certificate goes to {folder} (the run's recorded output.dir), at or inside --export '{export}'"
        raise UsageError("E608", said, "pass --cert-out a folder apart from --export, or export elsewhere") from None


def recorded_output_dir(store: EventStore, run_id: str) -> str | None:
    """The output.dir the run's run_started recorded (None when the stream does not start so: resume says why)."""
    records = store.read(run_id)
    if not records or records[0].type != "run_started":
        return None
    started = ev.decode_event(records[0].type, records[0].version, records[0].payload)
    output = started.config.get("output") if isinstance(started, ev.RunStarted) else None
    folder = output.get("dir") if isinstance(output, dict) else None
    return os.path.expanduser(folder) if isinstance(folder, str) else None
