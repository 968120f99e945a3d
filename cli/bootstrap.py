"""The one composition root: builds use-case dependencies, importing heavy adapters only when needed."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from invarlock.domain.errors import UsageError
from invarlock.domain.guards.plugin import use_plugin_guards
from invarlock.domain.metric_plugins import use_plugin_kinds
from invarlock.ports.audit import AuditQueries
from invarlock.ports.corpus import TokenStreamCache
from invarlock.ports.edits import Edit
from invarlock.ports.measurement import MeasurementPool
from invarlock.ports.report import ReportFormat, ReportRenderer
from invarlock.ports.signing import SignatureVerifier, Signer
from invarlock.ports.store import EventStore, RunIndex
from invarlock.ports.ui import Progress, SilentProgress

from .defaults import DEFAULT_AUDIT_TIMEOUT_S as DEFAULT_AUDIT_TIMEOUT_S
from .defaults import DEFAULT_EVENTS as DEFAULT_EVENTS
from .defaults import RUN_STORE_WAIT_S
from .plugin_faults import plugin_fault
from .registry import Registry, registry
from .routing import RegistryEdits, RegistryModelLoader, preload
from .routing_corpus import RegistryCorpusResolver
from .version import tool_version

if TYPE_CHECKING:  # imported where they are built: `invarlock runs` and `audit` need none of them
    from invarlock.application.doctor.diagnose import DoctorDeps
    from invarlock.application.services import Services
    from invarlock.application.verification.reexecute_request import ReexecutionDeps
    from invarlock.domain.metrics import Metric
    from invarlock.ports.guards import PluginGuard


# A metric kind no built-in defines comes from the plugin that declares it, whatever command names it.
def _plugin_metric(kind: str) -> Metric | None:
    from .plugin_metrics import plugin_metric  # imports the statistics (scipy): only when a kind is looked up

    return plugin_metric(kind, registry())


use_plugin_kinds(_plugin_metric)


# A guard no built-in defines comes from the plugin that declares it (docs/plugins.md, Guards).
def _plugin_guard(name: str) -> PluginGuard | None:
    from .plugin_guards import plugin_guard_of

    return plugin_guard_of(name, registry())


use_plugin_guards(_plugin_guard)


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
    `clock` (ISO-8601 UTC) stamps appended batches instead of the wall clock (benchmarks/runs_scale.py). Opened
    for writing, each operation waits up to RUN_STORE_WAIT_S for another process; read-only, the adapter's 2 s."""
    from invarlock.adapters.duckdb_file import require_duckdb_file
    from invarlock.adapters.duckdb_lock import LOCK_WAIT_S
    from invarlock.adapters.duckdb_store import DuckDBEventStore
    from invarlock.adapters.stored_rows import utc_now_iso

    require_duckdb_file(Path(path))
    wait_s = LOCK_WAIT_S if read_only else RUN_STORE_WAIT_S
    return DuckDBEventStore(Path(path), read_only=read_only, clock=clock or utc_now_iso, lock_wait_s=wait_s)


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
    """The renderer of `invarlock report html|md`: a self-contained HTML page or Markdown (E200 for any other
    format: the Python API gave Markdown for `fmt="HTML"` or `"pdf"`)."""
    from invarlock.adapters.report.renderers import HTMLReportRenderer, MarkdownReportRenderer

    if fmt == "html":
        return HTMLReportRenderer()
    if fmt == "md":
        return MarkdownReportRenderer()
    raise UsageError("E200", f"report format {fmt!r} is not one of 'html', 'md'", "ask for fmt='html' or fmt='md'")


def plugin_registry() -> Registry:
    """The entry-point registry of adapters, edits, datasets, guards and metrics (cli/registry.py)."""
    return registry()


def measurement_pool(*, workers: int | None = None) -> MeasurementPool:
    """The weight guards' measurement pool certify and the re-execution audit share: every BLAS pinned to
    `GUARD_BLAS_THREADS` (the `guard_blas_threads` the environment records), `workers` threads (None: one per
    core, at most 8; the results do not depend on it)."""
    from invarlock.adapters.measurement_threads import ThreadMeasurementPool

    return ThreadMeasurementPool(workers=workers)


def token_stream_cache() -> TokenStreamCache:
    """Token streams kept between certifications, under `<cache root>/tokens/` (adapters/cache_dir.py)."""
    from invarlock.adapters.cache_dir import cache_root
    from invarlock.adapters.token_cache import FileTokenStreamCache

    return FileTokenStreamCache(cache_root() / "tokens")


def build_services(
    *,
    events: str | os.PathLike[str],
    progress: Progress | None = None,
    store: EventStore | None = None,
    signer: Signer | None = None,
    uses: Iterable[tuple[str, str]] = (),
) -> Services:
    """Everything certify/run need: model loaders, corpora and edits by name from the plugin registry (the
    built-in HF adapters, local corpora, quant_rtn and the diagnostic edits register there too) and the DuckDB
    store. `uses` names the (group, name) entries the run uses: third-party ones are recorded in the
    environment of its provenance as `plugin.<group>.<name>: "<distribution> <version>"`, and they are imported
    here, before anything is recorded."""
    from invarlock.adapters.environment import runtime_environment
    from invarlock.adapters.network_switch import network_allowed
    from invarlock.adapters.system_probe import LocalSystemProbe
    from invarlock.application.services import Services

    from .execution import ray_pools

    network_allowed()  # E200 for a value it does not know, whatever the run then reads (a demo model reads nothing)
    reg = registry()
    used = list(uses)
    preload(reg, used)  # a missing extra or a broken plugin stops the run before its store is opened
    plugins = reg.provenance(used)
    chosen = store if store is not None else open_store(events)
    return Services(
        probe=LocalSystemProbe(),
        loader=RegistryModelLoader(reg),
        corpora=RegistryCorpusResolver(reg),
        store=chosen,
        index=cast(RunIndex, chosen) if callable(getattr(chosen, "indexed_runs", None)) else None,
        edits=RegistryEdits(reg),
        clock=utc_now,
        new_run_id=new_run_id,
        environment=lambda: {**runtime_environment(), **plugins},
        tool_version=tool_version(),
        progress=progress or SilentProgress(),
        signer=signer,
        pools=ray_pools(),
        measurements=measurement_pool(),
        tokens=token_stream_cache(),
        fault=lambda exc: plugin_fault(exc, reg),
    )


def build_reexecution_deps(events: str | os.PathLike[str] | None) -> ReexecutionDeps:
    """What `verify --baseline/--subject` needs: loaders, corpora and edits from the plugin registry and, with
    `events`, the store opened for writing (the audit appends a stream of its own; plain verify keeps the file
    read-only)."""
    from invarlock.adapters.corpus_demo import clean_anew
    from invarlock.adapters.environment import runtime_environment
    from invarlock.application.verification.reexecute_request import ReexecutionDeps

    clean_anew()  # the audit re-derives the windows from its own computation, not from this machine's kept text
    reg = registry()
    return ReexecutionDeps(
        edits=RegistryEdits(reg),
        loader=RegistryModelLoader(reg),
        corpora=RegistryCorpusResolver(reg),
        environment=runtime_environment,
        clock=utc_now,
        new_stream_id=new_run_id,
        tool_version=tool_version(),
        store=_audit_store(events) if events is not None else None,
        measurements=measurement_pool(),
    )


def _audit_store(path: str | os.PathLike[str]) -> EventStore:
    """The store the audit appends its stream to when it ends: E502 before any model loads if it cannot."""
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    store = open_store(path)
    try:
        cast(DuckDBEventStore, store).require_writable()
    except UsageError as exc:
        hint = "the audit appends its own stream to the --events file: make it writable, or audit without --events"
        raise UsageError(exc.code, exc.message, hint) from None
    return store


def build_doctor_deps() -> DoctorDeps:
    """What `invarlock doctor` reads through: tokenizers (no weights) and corpora by name from the plugin registry
    (an entry is imported only by the checks that use it, so a missing hf extra is reported, not raised on
    import), this machine, and the edit names the registry knows."""
    from invarlock.adapters.system_probe import LocalSystemProbe
    from invarlock.application.doctor.diagnose import DoctorDeps

    reg = registry()
    return DoctorDeps(
        loader=RegistryModelLoader(reg),
        corpora=RegistryCorpusResolver(reg),
        probe=LocalSystemProbe(),
        edit_names=lambda: list(reg.names("edits")),
        edit_of=lambda name: _edit_if_importable(RegistryEdits(reg), name),
        fault=lambda exc: plugin_fault(exc, reg),
        third_party=lambda group, name: (entry := reg.entry(group, name)) is not None and not entry.builtin,
    )


def _edit_if_importable(edits: Mapping[str, Edit], name: str) -> Edit | None:
    """The edit, or None when its module needs an extra that is missing (check_extras reports the extra; the
    plan is then checked when the run applies the edit)."""
    try:
        return edits[name]
    except ImportError:
        return None
