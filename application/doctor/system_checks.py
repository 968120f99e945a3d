"""The doctor's checks of the machine: optional extras, the event store and the disk it lives on."""

from __future__ import annotations

import re

from invarlock.domain import diagnostics as d
from invarlock.domain.errors import UsageError
from invarlock.domain.events import CURRENT_VERSIONS, of_newer_release
from invarlock.domain.events_legacy import UPCASTERS
from invarlock.domain.policy import PREFLIGHT_MIN_FREE_BYTES
from invarlock.ports.system import SystemProbe

from ..certification.preflight import Preflight

# Packages without which an extra's adapters cannot load a model (the others serve some providers only).
_ESSENTIAL = {"hf": ("torch", "transformers"), "onnx": ("onnxruntime",), "ray": ("ray",)}
_EXTRA_OF_ADAPTER = {"onnx": "onnx"}


def _probe(pf: Preflight) -> SystemProbe:
    assert pf.probe is not None, "the doctor always has a probe"
    return pf.probe


def _required(pf: Preflight) -> set[str]:
    if pf.request is None:
        return {"hf"}
    adapter, execution = pf.request.config.model.adapter, pf.request.config.execution
    ray = {"ray"} if execution is not None and execution.backend == "ray" else set()
    hf = {"hf"} if _builtin_models_or_edit(pf) else set()
    return hf | ray | ({_EXTRA_OF_ADAPTER[adapter]} if adapter in _EXTRA_OF_ADAPTER else set())


def _builtin_models_or_edit(pf: Preflight) -> bool:
    """Whether a built-in adapter loads a model or a built-in edit applies (they run on torch and transformers);
    a run whose adapters and edit are all third-party plugins' needs neither."""
    req = pf.req
    adapters = {req.config.model.adapter} | ({req.subject.adapter} if req.subject is not None else set())
    builtin_adapter = any(not pf.third_party("adapters", name) for name in adapters)
    edit = req.config.edit
    return builtin_adapter or (edit is not None and not pf.third_party("edits", edit.name))


def check_extras(pf: Preflight) -> None:
    """A note per optional extra; E105 when an extra the models need lacks an essential package."""
    required, blocking = _required(pf), []
    for extra in _probe(pf).extras():
        have = ", ".join(f"{name} {version}" for name, version in extra.installed.items())
        missing = ", ".join(extra.missing)
        if not extra.missing:
            pf.findings.append(d.note("extras", d.D_EXTRA, f"extra {extra.name}: {have}"))
            continue
        essential = [p for p in _ESSENTIAL.get(extra.name, ()) if p in extra.missing]
        if extra.name in required and essential:
            blocking.append((extra.name, essential[0]))
        elif extra.name in required:
            hint = f"pip install 'invarlock[{extra.name}]' (only some corpus providers need them)"
            pf.findings.append(d.warning("extras", d.D_EXTRA, f"extra {extra.name} lacks {missing}", hint))
        else:
            pf.findings.append(d.note("extras", d.D_EXTRA, f"extra {extra.name} not installed (lacks {missing})"))
    if blocking:
        name, package = blocking[0]
        what = "the Hugging Face extra" if name == "hf" else f"the {name} extra"
        raise UsageError(
            "E105", f"this command needs {what} and {package} is not installed", f"pip install 'invarlock[{name}]'"
        )


# what a release names an event type's version: a newer release's unknown to this one looks like this too
_EVENT_VERSION = re.compile(r"[a-z][a-z0-9_]*\.v[1-9][0-9]*")


def _newer(tagged: str) -> bool:
    """Whether a `type.vN` of the store is a newer release's (domain.events.of_newer_release), not an altered row."""
    if not _EVENT_VERSION.fullmatch(tagged):
        return False
    type_, _, version = tagged.rpartition(".v")
    return of_newer_release(type_, int(version))


def known_event_versions() -> set[str]:
    """Every `type.vN` this release reads: the versions it writes and those it upcasts."""
    return {f"{t}.v{v}" for t, v in CURRENT_VERSIONS.items()} | {f"{t}.v{v}" for t, v in UPCASTERS}


def check_store(pf: Preflight) -> None:
    """The event store opens as a run would open it (E501/E502/E505/E507) and holds known event versions."""
    events = pf.events or ""
    summary = _probe(pf).store_summary(events)
    if summary is None:
        pf.findings.append(d.note("store", d.D_STORE, f"event store {events} does not exist yet: the run creates it"))
        return
    facts = f"{summary.runs} runs, {summary.events} events, schema {summary.schema}"
    pf.findings.append(d.note("store", d.D_STORE, f"event store {events}: {facts}"))
    unknown = sorted(set(summary.versions) - known_event_versions())
    newer = [v for v in unknown if _newer(v)]
    altered = [v for v in unknown if not _newer(v)]
    if newer:
        pf.findings.append(
            d.warning(
                "store",
                d.D_STORE_VERSIONS,
                f"event store {events} holds event versions this release does not read: {', '.join(newer)}",
                "a newer invarlock wrote them: new runs are recorded, but replay those runs with that release",
            )
        )
    if altered:
        pf.findings.append(
            d.warning(
                "store",
                d.D_STORE_ALTERED,
                f"event store {events} holds rows whose type and version no invarlock writes: {', '.join(altered)}",
                f"the store was altered: `invarlock runs --events {events}` names the runs (E603); new runs are "
                "recorded, but restore the store from a copy",
            )
        )


def check_disk(pf: Preflight) -> None:
    """Free space where the event store lives: a warning below PREFLIGHT_MIN_FREE_BYTES."""
    free = _probe(pf).free_bytes(pf.events or ".")
    mib = free / 2**20
    if free < PREFLIGHT_MIN_FREE_BYTES:
        pf.findings.append(
            d.warning(
                "disk",
                d.D_DISK,
                f"{mib:.0f} MiB free for the event store, below {PREFLIGHT_MIN_FREE_BYTES >> 20} MiB",
                "free some space or use --events on another disk",
            )
        )
        return
    pf.findings.append(d.note("disk", d.D_DISK, f"{mib / 1024:.1f} GiB free for the event store"))
