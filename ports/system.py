"""SystemProbe port: what the preflight (`invarlock doctor`, and certify before it loads a model) asks of the
machine. Nothing here loads a model or imports more than the check needs."""

from __future__ import annotations

from typing import Protocol

from invarlock.domain.system_facts import DeviceSupport, ExtraStatus, StoreSummary


class SystemProbe(Protocol):
    """Read-only facts about the installation, the devices, the disk and an event store file."""

    def extras(self) -> list[ExtraStatus]:
        """Every optional extra (`hf`, `onnx`) with its installed packages (name -> version) and missing
        ones, found without importing them."""
        ...

    def devices(self) -> DeviceSupport:
        """The devices available here (`cpu` always; `cuda`, `mps` when present). Imports torch; without the
        hf extra only `cpu` is reported."""
        ...

    def free_bytes(self, path: str) -> int:
        """Free bytes on the file system that holds `path` (or its nearest existing parent folder)."""
        ...

    def temp_folder(self) -> str:
        """The folder this process's temporary files go to (TMPDIR, else the system's): where a run holding one
        model at a time keeps the baseline's hidden states."""
        ...

    def store_summary(self, path: str) -> StoreSummary | None:
        """The event store at `path`, opened read-only and left untouched; None when no file is there.

        Raises UsageError as opening it for a run would: E501 not a DuckDB file / not an InvarLock store,
        E505 locked by another process, E507 a store of an earlier release; E502 when a new store could not
        be created there (its folder is not writable)."""
        ...
