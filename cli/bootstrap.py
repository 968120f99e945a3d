"""The one composition root: builds use-case dependencies, importing heavy adapters only when needed."""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from invarlock.application.services import Services
from invarlock.ports.store import EventStore
from invarlock.ports.ui import Progress, SilentProgress

from .version import tool_version

DEFAULT_EVENTS = "runs/invarlock.duckdb"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """A UUIDv7-style id: 48-bit millisecond time then randomness, so ids sort by start time."""
    ms = int(time.time() * 1000)
    raw = (ms << 80) | (0x7 << 76) | secrets.randbits(76)
    h = f"{raw:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def open_store(path: str | os.PathLike[str], *, read_only: bool = False) -> EventStore:
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    return DuckDBEventStore(Path(path), read_only=read_only)


def build_services(
    *, events: str | os.PathLike[str], progress: Progress | None = None, store: EventStore | None = None
) -> Services:
    """Everything certify/run need: the HF loader, local corpora, quant_rtn and the DuckDB store."""
    from invarlock.adapters.corpus_resolver import LocalCorpusResolver
    from invarlock.adapters.environment import runtime_environment
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.quant_rtn import QuantRTNEdit

    edit = QuantRTNEdit()
    return Services(
        loader=HFModelLoader(),
        corpora=LocalCorpusResolver(),
        store=store if store is not None else open_store(events),
        edits={edit.name: edit},
        clock=utc_now,
        new_run_id=new_run_id,
        environment=runtime_environment,
        tool_version=tool_version(),
        progress=progress or SilentProgress(),
    )
