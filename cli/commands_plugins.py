"""`invarlock plugins [GROUP] [--json]`: every adapter, edit, guard, dataset and metric entry, where it comes from
and whether it loads (a plugin that fails to import is listed with its error)."""

from __future__ import annotations

import json

import click

from . import console
from .bootstrap import plugin_registry
from .registry import GROUPS, PluginStatus


def _row(status: PluginStatus) -> dict[str, object]:
    e = status.entry
    return {
        "group": e.group,
        "name": e.name,
        "origin": e.origin,
        "distribution": e.distribution,
        "version": e.version,
        "builtin": e.builtin,
        "value": e.value,
        "loads": status.error is None,
        "error": status.error,
    }


def _line(status: PluginStatus) -> str:
    shown = console.printable  # a distribution's name, version and error are its metadata's
    loads = "ok" if status.error is None else f"{console.verdict('FAIL')}  {shown(status.error)}"
    return f"{status.entry.group:<9} {shown(status.entry.name):<22} {shown(status.entry.origin):<28} {loads}"


@click.command("plugins")
@click.argument("group", required=False, type=click.Choice(GROUPS))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def plugins_cmd(group: str | None, as_json: bool) -> None:
    """List the entries of GROUP (default: every group), their origin and whether they load.

    Listing imports each entry's module (the built-in adapters import torch)."""
    statuses = plugin_registry().status([group] if group else GROUPS)
    if as_json:
        console.out(json.dumps({"format_version": "plugins-v1", "plugins": [_row(s) for s in statuses]}))
        return
    console.out(f"{'GROUP':<9} {'NAME':<22} {'ORIGIN':<28} LOADS")
    for status in statuses:
        console.out(_line(status))
