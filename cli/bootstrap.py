"""The one composition root: builds use-case dependencies, importing heavy adapters only when needed."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from invarlock.application.doctor.diagnose import DoctorDeps
from invarlock.application.services import Services
from invarlock.application.verification.reexecute import ReexecutionDeps
from invarlock.ports.audit import AuditQueries
from invarlock.ports.corpus import Tokenizer
from invarlock.ports.model import LoadedModel
from invarlock.ports.report import ReportFormat, ReportRenderer
from invarlock.ports.signing import SignatureVerifier, Signer
from invarlock.ports.store import EventStore, RunIndex
from invarlock.ports.ui import Progress, SilentProgress

from .version import tool_version

DEFAULT_EVENTS = "runs/invarlock.duckdb"
DEFAULT_AUDIT_TIMEOUT_S = 30.0  # `audit --sql --timeout`; docs/audit.md


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """A UUIDv7-style id: 48-bit millisecond time then randomness, so ids sort by start time."""
    ms = int(time.time() * 1000)
    raw = (ms << 80) | (0x7 << 76) | secrets.randbits(76)
    h = f"{raw:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def open_store(
    path: str | os.PathLike[str], *, read_only: bool = False, clock: Callable[[], str] | None = None
) -> EventStore:
    """The DuckDB event store at `path`; E501 at once when the file exists but is not a DuckDB database.
    `clock` (ISO-8601 UTC) stamps appended batches instead of the wall clock (benchmarks/runs_scale.py)."""
    from invarlock.adapters.duckdb_file import require_duckdb_file
    from invarlock.adapters.duckdb_store import DuckDBEventStore
    from invarlock.adapters.memory_store import utc_now_iso

    require_duckdb_file(Path(path))
    return DuckDBEventStore(Path(path), read_only=read_only, clock=clock or utc_now_iso)


def open_run_index(path: str | os.PathLike[str]) -> RunIndex:
    """The run index of the event store at `path`, read-only (`invarlock runs`)."""
    from invarlock.adapters.duckdb_file import require_duckdb_file
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    require_duckdb_file(Path(path))
    return DuckDBEventStore(Path(path), read_only=True)


def open_audit(path: str | os.PathLike[str], *, timeout_s: float = DEFAULT_AUDIT_TIMEOUT_S) -> AuditQueries:
    """Read-only SQL over the audit views of the event store at `path`; a query is stopped after `timeout_s`."""
    from invarlock.adapters.duckdb_audit import DuckDBAuditQueries
    from invarlock.adapters.duckdb_file import require_duckdb_file

    require_duckdb_file(Path(path))
    return DuckDBAuditQueries(Path(path), timeout_s=timeout_s)


def load_signer(path: str | os.PathLike[str]) -> Signer:
    """The Ed25519 signer of a private key file (`--sign-key`); UsageError E700-E702 on a bad file."""
    from invarlock.adapters.ed25519 import load_signer as load

    return load(Path(path))


def load_verifier(path: str | os.PathLike[str]) -> SignatureVerifier:
    """The Ed25519 verifier of a public key file (`--pubkey`); UsageError E700-E702 on a bad file."""
    from invarlock.adapters.ed25519 import load_verifier as load

    return load(Path(path))


def generate_keypair(path: str | os.PathLike[str], *, force: bool) -> str:
    """Write an Ed25519 key pair (PATH 0600, PATH.pub) and return its fingerprint (`invarlock keygen`)."""
    from invarlock.adapters.ed25519 import generate_keypair as generate

    return generate(Path(path), force=force)


def report_renderer(fmt: ReportFormat) -> ReportRenderer:
    """The renderer of `invarlock report html|md`: a self-contained HTML page or Markdown."""
    from invarlock.adapters.report.renderers import HTMLReportRenderer, MarkdownReportRenderer

    return HTMLReportRenderer() if fmt == "html" else MarkdownReportRenderer()


def build_services(
    *,
    events: str | os.PathLike[str],
    progress: Progress | None = None,
    store: EventStore | None = None,
    signer: Signer | None = None,
) -> Services:
    """Everything certify/run need: the HF loader, local corpora, the built-in edits (quant_rtn and the
    diagnostic edits of the calibration suite) and the DuckDB store."""
    from invarlock.adapters.corpus_resolver import LocalCorpusResolver
    from invarlock.adapters.environment import runtime_environment
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.quant_rtn import QuantRTNEdit
    from invarlock.adapters.system_probe import LocalSystemProbe
    from invarlock.adapters.weight_edits import DIAGNOSTIC_EDITS

    edits = {e.name: e for e in (QuantRTNEdit(), *DIAGNOSTIC_EDITS)}
    return Services(
        probe=LocalSystemProbe(),
        loader=HFModelLoader(),
        corpora=LocalCorpusResolver(),
        store=store if store is not None else open_store(events),
        edits=edits,
        clock=utc_now,
        new_run_id=new_run_id,
        environment=runtime_environment,
        tool_version=tool_version(),
        progress=progress or SilentProgress(),
        signer=signer,
    )


def build_reexecution_deps(events: str | os.PathLike[str] | None) -> ReexecutionDeps:
    """What `verify --baseline/--subject` needs: the HF loader, local corpora and, with `events`, the store
    opened for writing (the audit appends a stream of its own; plain verify keeps the file read-only)."""
    from invarlock.adapters.corpus_resolver import LocalCorpusResolver
    from invarlock.adapters.environment import runtime_environment
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.quant_rtn import QuantRTNEdit
    from invarlock.adapters.weight_edits import DIAGNOSTIC_EDITS

    return ReexecutionDeps(
        edits={e.name: e for e in (QuantRTNEdit(), *DIAGNOSTIC_EDITS)},
        loader=HFModelLoader(),
        corpora=LocalCorpusResolver(),
        environment=runtime_environment,
        clock=utc_now,
        new_stream_id=new_run_id,
        tool_version=tool_version(),
        store=open_store(events) if events is not None else None,
    )


class _LazyHFLoader:
    """The HF model loader, imported at first use: the doctor reports a missing hf extra instead of failing."""

    def load(self, ref: str, *, adapter: str, device: str, dtype: str, batch_size: int | None = None) -> LoadedModel:
        from invarlock.adapters.hf_loader import HFModelLoader

        return HFModelLoader().load(ref, adapter=adapter, device=device, dtype=dtype, batch_size=batch_size)

    def tokenizer(self, ref: str, *, adapter: str) -> Tokenizer:
        from invarlock.adapters.hf_loader import HFModelLoader

        return HFModelLoader().tokenizer(ref, adapter=adapter)


def _edit_names() -> list[str]:
    from invarlock.adapters.quant_rtn import QuantRTNEdit
    from invarlock.adapters.weight_edits import DIAGNOSTIC_EDITS

    return [e.name for e in (QuantRTNEdit(), *DIAGNOSTIC_EDITS)]


def build_doctor_deps() -> DoctorDeps:
    """What `invarlock doctor` reads through: tokenizers (no weights), local corpora, this machine; the heavy
    adapters are imported only by the checks that need them."""
    from invarlock.adapters.corpus_resolver import LocalCorpusResolver
    from invarlock.adapters.system_probe import LocalSystemProbe

    return DoctorDeps(
        loader=_LazyHFLoader(), corpora=LocalCorpusResolver(), probe=LocalSystemProbe(), edit_names=_edit_names
    )
