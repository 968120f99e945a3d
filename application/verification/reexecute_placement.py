"""How the re-execution audit loads a certified model: the certificate's adapter, dtype and batch size, placed
as the certificate records it (the run's `model.device_map`/`max_memory`, else the device kind it ran on),
unless the recipient names a device (`verify --device D`: the whole model on D)."""

from __future__ import annotations

from typing import Any

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.model import MAX_BATCH_SIZE, DevicePlacement, LoadOptions, ModelIdentity
from invarlock.ports.loader import ModelLoader
from invarlock.ports.model import LoadedModel


def audit_load_options(role: str, section: ModelIdentity, device: str | None, cert: c.Certificate) -> LoadOptions:
    """The LoadOptions of the `role` model `section` describes; `device` is the recipient's override (None:
    none)."""
    placement = recorded_placement(cert) if device is None else None
    where = device or ("auto" if placement is not None else _device_kind(section.device))
    dtype = _requested_dtype(role, section, cert)
    return LoadOptions(
        adapter=section.adapter, device=where, dtype=dtype, batch_size=_batch_size(cert), placement=placement
    )


def _requested_dtype(role: str, section: ModelIdentity, cert: c.Certificate) -> str:
    """The dtype the run's loader was asked for (its config's `subject`, else `model` section): the identity's
    dtype describes the loaded weights, `float32+int8` for an int8 ONNX graph, which no loader takes."""
    config = cert.provenance.config
    key = "subject" if role == "subject" and isinstance(config.get("subject"), dict) else "model"
    asked = recorded_section(cert, key).get("dtype")
    return asked if isinstance(asked, str) else section.dtype


def load_certified(loader: ModelLoader, ref: str, options: LoadOptions, given_as: str) -> LoadedModel:
    """`loader.load(ref, options)`; a UsageError names the option `ref` came from (`given_as`) and the adapter,
    dtype and device it was loaded with, which are the certificate's, not options the recipient gave."""
    try:
        return loader.load(ref, options)
    except UsageError as exc:
        how = f"adapter {options.adapter}, dtype {options.dtype} as certified, on device {options.device}"
        raise UsageError(exc.code, f"{given_as} {ref}: {exc.message} (loaded with {how})", exc.hint) from exc


def recorded_placement(cert: c.Certificate) -> DevicePlacement | None:
    """The device map the run loaded its models with (provenance.config.model, both roles share it), or None.
    UsageError E601 when the recorded keys do not form one."""
    model = cert.provenance.config.get("model", {})
    keys = {k: model[k] for k in ("device_map", "max_memory") if isinstance(model, dict) and k in model}
    if not keys:
        return None
    try:
        return msgspec.convert(keys, DevicePlacement)
    except msgspec.ValidationError as exc:
        raise UsageError(
            "E601", f"schema check failed: provenance.config.model placement: {exc}", "re-issue the certificate"
        ) from None


def _device_kind(device: str) -> str:
    return device.split(":", 1)[0]


def _batch_size(cert: c.Certificate) -> int | None:
    size = recorded_section(cert, "eval").get("batch_size")
    if size is not None and (type(size) is not int or not 1 <= size <= MAX_BATCH_SIZE):
        raise _malformed("eval.batch_size", f"{size!r} is not a count of windows from 1 to {MAX_BATCH_SIZE}")
    return size


def recorded_section(cert: c.Certificate, name: str) -> dict[str, Any]:
    """The run config's section `name` as the certificate records it ({} when absent). UsageError E601 when it
    is not an object: no run records one, and the audit reads its settings from it."""
    section = cert.provenance.config.get(name, {})
    if not isinstance(section, dict):
        raise _malformed(name, f"expected an object, got {type(section).__name__}")
    return section


def _malformed(field: str, problem: str) -> UsageError:
    return UsageError("E601", f"schema check failed: provenance.config.{field}: {problem}", "re-issue the certificate")
