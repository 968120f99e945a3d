"""What the system probe (ports/system.py) reports to the preflight: installed extras, the event store, devices."""

from __future__ import annotations

import msgspec


class ExtraStatus(msgspec.Struct, frozen=True, kw_only=True):
    """An optional extra (`hf`, `onnx`): the packages it needs that are installed (with versions) and missing."""

    name: str
    installed: dict[str, str]
    missing: tuple[str, ...]


class StoreSummary(msgspec.Struct, frozen=True, kw_only=True):
    """An existing event store: its schema marker, run count and how many events of each (type, version)."""

    schema: str
    runs: int
    events: int
    versions: dict[str, int]  # "type.vN" -> count
    size_bytes: int


class DeviceSupport(msgspec.Struct, frozen=True, kw_only=True):
    """The device and dtype names the model adapters accept (`known` includes `auto`), the devices present
    here (cpu always), and whether CUDA computes in bfloat16."""

    known: tuple[str, ...]
    dtypes: tuple[str, ...]
    available: tuple[str, ...]
    cuda_bf16: bool = False
