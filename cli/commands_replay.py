"""`invarlock replay RUN_ID`: the certificate rebuilt from the event store alone (no torch, no models)."""

from __future__ import annotations

from pathlib import Path

import click
from invarlock.domain import certificate as c

from . import api_verify as api
from . import console
from .bootstrap import DEFAULT_EVENTS
from .outputs import certificate_of, write_atomically


@click.command("replay")
@click.argument("run_id")
@click.option("--events", type=click.Path(), default=DEFAULT_EVENTS, show_default=True)
@click.option("--out", "-o", type=click.Path(), default=None, help="write the certificate here (default or -: stdout)")
def replay_cmd(run_id: str, events: str, out: str | None) -> None:
    """Rebuild RUN_ID's certificate from its events alone (byte-identical to the issued one)."""
    cert = api.replay(run_id, events=events)
    for line in api.plugin_notes(cert):
        # stderr: stdout may carry the certificate; the plugins' names are the event store's text
        console.tell(console.printable(f"NOTE: {line}"))
    data = c.to_bytes(cert)
    if out is None or out == "-":  # `-` wrote a file named "-" (report -o - writes to stdout)
        console.out_bytes(data)  # no trailing newline: the canonical bytes, as `verify` checks them
    else:
        hint = "choose another --out path"
        ours = (f"a certificate of run {cert.run_id}", lambda held: certificate_of(held, cert.run_id))
        write_atomically(Path(out), data, what="the certificate", hint=hint, inputs=(Path(events),), replaces=ours)
        console.say(f"Replayed certificate {cert.digest[:16]} written to {console.printable(out)}")
