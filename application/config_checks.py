"""The run configuration's checks beyond its schema: the metric kind and its keys, the guard order, hub
dataset keys, execution and placement (each a UsageError E201 naming the config file)."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from invarlock.domain.canonical import first_non_finite
from invarlock.domain.errors import UsageError
from invarlock.domain.examples import render_prompt
from invarlock.domain.guards.plugin import plugin_guard
from invarlock.domain.metrics import ACCURACY, SECONDARY_KINDS, metric_for, pairs_measurable
from invarlock.domain.model import MAX_BATCH_SIZE
from invarlock.domain.policy import PROFILES, TIERS, order_shape_problem
from invarlock.domain.windows import check_window_shape

from .config_execution import check_execution
from .config_sections import FULL_CHAIN, HF_PROVIDER, SUPPORTED_GUARDS, DatasetConfig, ModelConfig, RunConfig
from .config_sequential import check_sequential

_NO_FILE = ("demo:wikipedia", "demo:news", "demo:polarity", "wikitext2")  # built-in sets: no path, no fields
_FIELDS = (("text_field", "text"), ("label_field", "label"))


def check_semantics(cfg: RunConfig, source: str) -> None:
    """UsageError E201 naming `source` when the schema-valid `cfg` is not a config a run can take."""
    _check_finite(msgspec.to_builtins(cfg), source)
    try:
        metric_for(cfg.eval.metric.kind)
    except UsageError as exc:
        raise exc.within(source) from exc
    _check_order(cfg.guards.order, source)
    _check_names(cfg, source)
    _check_metric_keys(cfg, source)
    _check_hub_keys(cfg.dataset, source)
    check_execution(cfg.execution, source)
    _check_placement(cfg.model, source)
    if not cfg.model.id.strip():  # read as the path "." before: ". is not a model directory"
        raise UsageError("E201", f"{source}: model.id is empty", "name the model: a directory, hf:ORG/NAME or demo:...")
    if not cfg.output.dir.strip():  # `--out ""` is E200: the same empty folder name in the file
        raise UsageError("E201", f"{source}: output.dir is empty", "name the reports folder, e.g. reports")
    if cfg.dataset.preview_n < 2 or cfg.dataset.final_n < 2:
        raise UsageError("E201", f"{source}: dataset.preview_n and dataset.final_n must be >= 2", "raise them")
    _check_windows(cfg.dataset, cfg.eval.metric.kind == ACCURACY.kind, source)
    if cfg.eval.secondary.gate and cfg.eval.secondary.measure is False:
        raise UsageError(
            "E201", f"{source}: eval.secondary.gate needs the secondary metrics measured", "drop measure: false"
        )
    kind = cfg.eval.metric.kind
    if cfg.eval.secondary.gate and not pairs_measurable(kind):
        # every such run would FAIL its kl_divergence and top1_agreement gates: its certificate has no KL
        raise UsageError(
            "E201",
            f"{source}: eval.secondary.gate: kind {kind} has no secondary metrics (KL and top-1 agreement compare "
            f"next-token distributions: {', '.join(SECONDARY_KINDS)})",
            "drop eval.secondary.gate",
        )
    check_sequential(cfg, source)
    if cfg.eval.batch_size is not None and not 1 <= cfg.eval.batch_size <= MAX_BATCH_SIZE:
        raise UsageError(
            "E201",
            f"{source}: eval.batch_size must be between 1 and {MAX_BATCH_SIZE}",
            "use e.g. 8, or leave it out for the default",
        )


def _check_names(cfg: RunConfig, source: str) -> None:
    """The profile and tier are names a run takes, even where --profile/--tier override them: the run records the
    config as written, and verify refuses a recorded name no run takes (since 0.3.12, when this check came)."""
    for key, value, names in (("profile", cfg.profile, PROFILES), ("auto.tier", cfg.auto.tier, TIERS)):
        if value is not None and value not in names:
            raise UsageError(
                "E201", f"{source}: {key} '{value}' is not one a run takes", f"use one of {', '.join(names)}"
            )


def _check_windows(ds: DatasetConfig, examples: bool, source: str) -> None:
    """The window shape and calibration arm, refused here naming the file rather than once the tokenizer has cut
    the stream (a run recorded as failed). A negative calibration_n made the plan's total look smaller, so the
    final arm was dealt fewer windows than final_n with no sign of it. Labelled examples use seq_len as the
    longest prompt and no stride."""
    if ds.calibration_n < 0:
        raise UsageError("E201", f"{source}: dataset.calibration_n is {ds.calibration_n}", "use 0 or more")
    if not examples:
        check_window_shape(ds.seq_len, ds.effective_stride, f"{source}: dataset.")
    elif ds.seq_len < 1:
        raise UsageError("E201", f"{source}: dataset.seq_len is {ds.seq_len}", "use 1 token or more")


def _check_finite(data: Any, source: str) -> None:
    """The config is recorded as canonical JSON, which has no NaN or infinity: refuse one here, naming its key,
    and not when the run records it (after the models loaded)."""
    found = first_non_finite(data)
    if found is not None:
        raise UsageError("E201", f"{source}: {found[0].lstrip('.')} is {found[1]!r}", "give a finite number")


def _check_metric_keys(cfg: RunConfig, source: str) -> None:
    """Zero-shot keys only with kind accuracy, and an accuracy run plans no calibration examples. The variance
    guard and spectral repair are refused for every kind without per-model NLL (E005, run_request)."""
    m = cfg.eval.metric
    if m.kind != ACCURACY.kind:
        if m.template is not None or m.label_words is not None:
            raise UsageError("E201", f"{source}: eval.metric.template/label_words need kind accuracy", "remove them")
        return
    if (m.template is None) != (m.label_words is None) or (m.label_words is not None and len(m.label_words) < 2):
        raise UsageError(
            "E201",
            f"{source}: zero-shot accuracy needs eval.metric.template and at least 2 eval.metric.label_words",
            'e.g. template: "Review: {text}\\nSentiment:", label_words: [" negative", " positive"]',
        )
    if m.template is not None:
        _check_template(m.template, source)
    if cfg.dataset.calibration_n != 0:
        raise UsageError(
            "E201",
            f"{source}: kind accuracy takes dataset.calibration_n: 0 (examples are not calibration windows)",
            "set dataset.calibration_n: 0",
        )


def _check_template(template: str, source: str) -> None:
    """A prompt template with a `{text}` field and no other (E201 naming the file): one without it scored every
    example on the same prompt, so it was refused only as a corpus too small (E303), or not at all."""
    try:
        filled = render_prompt(template, "x")
    except UsageError as exc:
        raise UsageError("E201", f"{source}: {exc.message}", exc.hint) from None
    if filled == render_prompt(template, ""):
        raise UsageError(
            "E201",
            f"{source}: eval.metric.template {template!r} has no {{text}} field, so every example gets the same prompt",
            'put {text} where the example goes, e.g. template: "Review: {text}\\nSentiment:"',
        )


def _check_hub_keys(ds: DatasetConfig, source: str) -> None:
    if ds.hub and ds.provider != HF_PROVIDER:
        keys = ", ".join(f"dataset.{key}" for key in ds.hub)
        says = "names a hub dataset: it needs" if len(ds.hub) == 1 else "name a hub dataset: they need"
        raise UsageError("E201", f"{source}: {keys} {says} provider: hf", "set provider: hf")


def refuse_unread_dataset_keys(ds: DatasetConfig, source: str) -> None:
    """A file or field given to a built-in provider that reads none was recorded in the certificate's config and
    never read: a PASS over the demo text whose config named the user's file. A config as written only: a run
    recorded before this check still resumes."""
    unread = []
    if ds.provider in _NO_FILE:
        unread += [key for key in ("path", "file") if getattr(ds, key) is not None]
    if ds.provider in _NO_FILE or ds.provider == "text":
        unread += [key for key, default in _FIELDS if getattr(ds, key) != default]
    if unread:
        keys = ", ".join(f"dataset.{key}" for key in unread)
        raise UsageError(
            "E201",
            f"{source}: {keys} {'is' if len(unread) == 1 else 'are'} not read by provider {ds.provider}",
            "drop it, or set the provider that reads it (text, jsonl or hf)",
        )


def _check_order(order: list[str], source: str) -> None:
    for name in order:
        if name not in SUPPORTED_GUARDS and plugin_guard(name) is None:
            raise UsageError(
                "E201",
                f"{source}: guards.order names unknown guard '{name}'",
                f"available guards: {', '.join(SUPPORTED_GUARDS)}",
            )
    problem = order_shape_problem(order)
    if problem is not None:
        raise UsageError(
            "E201", f"{source}: guards.order {problem}", f"name each guard once, e.g. [{', '.join(FULL_CHAIN)}]"
        )


# accelerate's sizes (convert_file_size_to_int): a number of bytes with a unit, e.g. 20GiB, 500MB
_SIZE = re.compile(r"[0-9]+(\.[0-9]+)?\s*([KMGT]I?B|B)", re.IGNORECASE)
_CAPPED = ("cpu", "disk", "mps")


def _check_placement(model: ModelConfig, source: str) -> None:
    if model.max_memory is not None and model.device_map is None:
        raise UsageError("E201", f"{source}: model.max_memory needs model.device_map", "add device_map: auto")
    for key, size in (model.max_memory or {}).items():
        if not (key.isdigit() or key in _CAPPED):
            raise UsageError(
                "E201", f"{source}: model.max_memory names an unknown device {key!r}", "use 0, 1, ..., cpu or disk"
            )
        if not _SIZE.fullmatch(size.strip()):
            raise UsageError(
                "E201", f"{source}: model.max_memory.{key} = {size!r} is not a size", "write e.g. 20GiB or 500MB"
            )
