"""LocalSystemProbe: the SystemProbe port on this machine (installed distributions, torch devices, the disk and
a DuckDB event store opened read-only)."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import shutil
import stat
import tempfile
from pathlib import Path

from invarlock.domain.errors import UsageError
from invarlock.domain.system_facts import DeviceSupport, ExtraStatus, StoreSummary

from .folder_probe import WRITABLE_STORE_HINT, file_creation_problem, nearest_existing
from .model_choices import DEVICES, DTYPES

_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TOOLING_EXTRAS = ("dev",)  # for working on invarlock, not for running it


def _requirements_by_extra() -> dict[str, list[str]]:
    """Distribution names each optional extra of the installed invarlock requires (from its metadata)."""
    by_extra: dict[str, list[str]] = {}
    for requirement in metadata.requires("invarlock") or []:
        extra, name = _EXTRA.search(requirement), _NAME.match(requirement)
        if extra is not None and name is not None and extra.group(1) not in _TOOLING_EXTRAS:
            by_extra.setdefault(extra.group(1), []).append(name.group(0))
    return by_extra


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


class LocalSystemProbe:
    """ports.system.SystemProbe for this machine; imports torch (when installed) only in `devices`, DuckDB
    only for a store."""

    def extras(self) -> list[ExtraStatus]:
        statuses = []
        for extra, names in sorted(_requirements_by_extra().items()):
            versions = {name: _version(name) for name in names}
            installed = {name: v for name, v in versions.items() if v is not None}
            missing = tuple(name for name, v in versions.items() if v is None)
            statuses.append(ExtraStatus(name=extra, installed=installed, missing=missing))
        return statuses

    def devices(self) -> DeviceSupport:
        try:
            import torch
        except ModuleNotFoundError:  # no hf extra: a plugin adapter may still run, on the CPU
            return DeviceSupport(known=DEVICES, dtypes=DTYPES, available=("cpu",))
        cuda = torch.cuda.is_available()
        present = {"cpu": True, "cuda": cuda, "mps": torch.backends.mps.is_available()}
        available = tuple(name for name in ("cpu", "cuda", "mps") if present[name])
        bf16 = bool(cuda and torch.cuda.is_bf16_supported())
        return DeviceSupport(known=DEVICES, dtypes=DTYPES, available=available, cuda_bf16=bf16)

    def free_bytes(self, path: str) -> int:
        return shutil.disk_usage(nearest_existing(Path(path))).free

    def temp_folder(self) -> str:
        return tempfile.gettempdir()

    def store_summary(self, path: str) -> StoreSummary | None:
        from .duckdb_file import require_duckdb_file

        target = Path(path)
        # first, as a run opens it: a name too long (E999 in Path.exists) or a link that loops (read as no store,
        # "run would start") is E501 before anything is taken for missing
        require_duckdb_file(target)
        if not target.exists():
            _require_creatable(target)
            return None
        return _summary(target)


def _require_creatable(target: Path) -> None:
    """E502 as a run's first append would give when the store's folder cannot be made or written."""
    problem = file_creation_problem(target)
    if problem is not None:
        raise UsageError("E502", f"cannot create event store {target}: {problem}", WRITABLE_STORE_HINT)


def _summary(target: Path) -> StoreSummary:

    from .duckdb_connection import check_ours, store_connection
    from .duckdb_lock import LOCK_WAIT_S

    if stat.S_IMODE(target.stat().st_mode) & 0o222 == 0:
        raise UsageError("E502", f"event store {target} is read-only", "make it writable or use --events")
    with store_connection(target, write=False, wait_s=LOCK_WAIT_S) as con:
        check_ours(con, target)
        rows = con.execute("SELECT type, version, count(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        runs = con.execute("SELECT count(DISTINCT run_id) FROM events").fetchone()
        schema = con.execute("SELECT value FROM invarlock_meta WHERE key = 'schema'").fetchone()
    versions = {f"{t}.v{v}": int(n) for t, v, n in rows}
    return StoreSummary(
        schema=str(schema[0]) if schema else "",
        runs=int(runs[0]) if runs else 0,
        events=sum(versions.values()),
        versions=versions,
        size_bytes=target.stat().st_size,
    )
