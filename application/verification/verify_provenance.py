"""verify's cross-field checks: what the certificate says about its run must agree with the run's recorded config,
its event log and itself (a forger would otherwise change a shown field the numbers do not depend on)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain.build import TOOL_NAME
from invarlock.domain.canonical import canonical_bytes
from invarlock.domain.errors import UsageError
from invarlock.domain.events_run import RUN_SEEDS
from invarlock.domain.examples import EXAMPLE_STRIDE, render_prompt
from invarlock.domain.metrics import ACCURACY, METRICS, metric_for
from invarlock.domain.model import (
    BLOCK_NAMES,
    GRAPH_DIGEST_ADAPTERS,
    GRAPH_DIGEST_SINCE,
    MAX_BATCH_SIZE,
    EditDeltas,
)
from invarlock.domain.policy import PROFILES, TIERS
from invarlock.domain.policy_releases import released_before
from invarlock.domain.quant_rtn_plan import QUANT_RTN, resolve_plan

from ..config_sections import GuardsConfig, ModelConfig, RunConfig
from .verify_report import VerifyReport, dig
from .verify_reuse import reuse_problems

NAMES_CHECKED_SINCE = (0, 3, 12)  # the config check refuses a profile or tier name no run takes

_COMMANDS = ("certify", "run", "calibrate")  # the commands that issue certificates
# `run` always edits the baseline (calibrate's cases may not: its `identical` case certifies the baseline as is)
_EDITING = ("run",)


def iso_time(value: str) -> datetime | None:
    """`value` as an aware datetime, None when it is not an ISO-8601 time with a time zone."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _run_problems(cert: c.Certificate) -> Iterator[str]:
    p = cert.provenance
    if p.event_log.run_id != cert.run_id:
        yield f"provenance.event_log.run_id {p.event_log.run_id} is not the certificate's run {cert.run_id}"
    if p.event_log.event_count < 1:
        yield f"provenance.event_log.event_count is {p.event_log.event_count}"
    started, issued = iso_time(p.started_at), iso_time(cert.issued_at)
    if started is None or issued is None:
        yield "started_at and issued_at must be ISO-8601 times with a time zone"
    elif started > issued:
        yield f"the run started ({p.started_at}) after its certificate was issued ({cert.issued_at})"
    if sorted(p.seeds) != sorted(RUN_SEEDS):
        named, recorded = ", ".join(sorted(p.seeds)), ", ".join(sorted(RUN_SEEDS))
        yield f"provenance.seeds names {named}, not the seeds a run records ({recorded})"
    if set(p.seeds.values()) != {cert.bootstrap.seed}:
        yield f"provenance.seeds {p.seeds} are not all the run's seed {cert.bootstrap.seed}"


def _schema_problems(config: Mapping[str, object]) -> Iterator[str]:
    """The run config is one a run records (run_request: config_to_dict, and certify's `subject`): every key one this
    release reads, each value of its type. The checks below read the keys they compare; any other key would pass
    unread (a forger's note beside the checked fields). A plugin guard's section is under its name in guards.order."""
    recorded = dict(config)
    subject = recorded.pop("subject", None)
    guards = recorded.get("guards")
    if isinstance(guards, dict) and "plugins" in guards:  # the field holding plugin sections: never written as is
        yield "provenance.config.guards.plugins is not what a run records (a plugin guard's section is guards.<name>)"
    elif isinstance(guards, dict):
        order, known = guards.get("order"), GuardsConfig.__struct_fields__
        named = set(order) if isinstance(order, list) and all(isinstance(g, str) for g in order) else set()
        plugins = {k: v for k, v in guards.items() if k not in known and k in named}
        recorded["guards"] = {**{k: v for k, v in guards.items() if k not in plugins}, "plugins": plugins}
    for where, value, shape in (("", recorded, RunConfig), (".subject", subject, ModelConfig)):
        try:
            if value is not None:
                msgspec.convert(value, shape)
        except msgspec.ValidationError as exc:
            yield f"provenance.config{where} is not what a run records: {exc}"


def _config_problems(cert: c.Certificate) -> Iterator[str]:
    config, data = cert.provenance.config, cert.dataset
    # The provider is the corpus adapter's name for what the config names (a file, a hub id), not the config's.
    if dig(config, "dataset", "seq_len") != data.seq_len:
        yield f"dataset.seq_len {data.seq_len} is not the run config's {dig(config, 'dataset', 'seq_len')}"
    stride = dig(config, "dataset", "stride")
    # Stride 0 marks labelled examples, which only the accuracy kind plans; for a stream it would hide overlaps.
    if (data.stride == EXAMPLE_STRIDE) != (cert.primary_metric.kind == ACCURACY.kind):
        yield f"dataset.stride {data.stride} is not what a {cert.primary_metric.kind} plan states"
    configured = stride if stride is not None else data.seq_len  # a stride left out is seq_len (effective_stride)
    if data.stride != EXAMPLE_STRIDE and configured != data.stride:
        yield f"dataset.stride {data.stride} is not the run config's {configured}"
    if data.stride != EXAMPLE_STRIDE and data.stride < data.seq_len:
        yield f"dataset.stride {data.stride} would make windows of {data.seq_len} tokens overlap"
    size = dig(config, "eval", "batch_size")  # what a run accepts (config_checks), as the audit reads it
    if size is not None and not (isinstance(size, int) and 1 <= size <= MAX_BATCH_SIZE):
        yield f"eval.batch_size {size!r} is not a count of windows from 1 to {MAX_BATCH_SIZE}"
    kind = dig(config, "eval", "metric", "kind")
    if kind != cert.primary_metric.kind:
        yield f"primary_metric.kind {cert.primary_metric.kind} is not the run config's {kind}"
    yield from _choice_problems(cert)
    yield from _zero_shot_problems(cert)
    yield from _edit_problems(cert)
    yield from _sequential_problems(cert)
    yield from _schema_problems(config)


def _choice_problems(cert: c.Certificate) -> Iterator[str]:
    """The profile and tier the config names are names a run takes (its config check refuses others since 0.3.12;
    before, --profile/--tier could override a name no run takes, and the config recorded it), and a run that left
    the secondary measures out (eval.secondary.measure: false) recorded none: no KL or top-1 comparisons for a kind
    whose models are scored apart (an accuracy or cosine kind's comparisons are its primary evidence)."""
    config = cert.provenance.config
    names_checked = not released_before(cert.tool.version, NAMES_CHECKED_SINCE)
    for where, value, names in (
        ("profile", config.get("profile"), PROFILES),
        ("auto.tier", dig(config, "auto", "tier"), TIERS),
    ):
        if names_checked and value is not None and value not in names:
            yield f"provenance.config.{where} {value!r} is none a run takes ({', '.join(names)})"
    kind = cert.primary_metric.kind
    secondary_only = kind in METRICS and metric_for(kind).per_model_scores
    arms = (cert.evidence.preview, cert.evidence.final)
    measured = secondary_only and any(arm is not None and arm.comparisons is not None for arm in arms)
    if dig(config, "eval", "secondary", "measure") is False and (measured or cert.secondary_metrics is not None):
        yield "the run config leaves paired measures out (eval.secondary.measure: false), yet the certificate has them"


def _sequential_problems(cert: c.Certificate) -> Iterator[str]:
    """A run config holding one model at a time (eval.sequential) scores a metric kind each model scores alone
    (config_sequential refuses a kind that compares both models' outputs together): such evidence came from
    another run. KL and top-1 agreement it may measure, from the baseline's kept side of them (0.3.5 on)."""
    if dig(cert.provenance.config, "eval", "sequential") is not True:
        return
    kind = cert.primary_metric.kind
    if kind in METRICS and not metric_for(kind).per_model_scores:
        yield (
            f"the run config holds one model at a time (eval.sequential), yet its metric {kind} compares both "
            "models' outputs together"
        )


def _zero_shot_problems(cert: c.Certificate) -> Iterator[str]:
    """The run config's template and label words as a run takes them (both or neither, kind accuracy only), and
    one word for every label and prediction the evidence names (the words are the candidates, in label order)."""
    template, words = (dig(cert.provenance.config, "eval", "metric", key) for key in ("template", "label_words"))
    if template is None and words is None:
        return
    if cert.primary_metric.kind != ACCURACY.kind or template is None or words is None:
        yield f"eval.metric.template and label_words are not a zero-shot {cert.primary_metric.kind} config"
    elif not isinstance(words, list) or len(words) < 2 or not all(isinstance(w, str) for w in words):
        yield f"eval.metric.label_words {words!r} are not two or more words"
    elif not isinstance(template, str) or not _fills(template):
        yield f"eval.metric.template {template!r} is not a template with one {{text}} field"
    elif (highest := _highest_label(cert)) >= len(words):
        yield f"the evidence names label {highest} of a run config with {len(words)} label words"


def _fills(template: str) -> bool:
    try:
        render_prompt(template, "")
    except UsageError:
        return False
    return True


def _highest_label(cert: c.Certificate) -> int:
    """The highest gold label or prediction of the scored arms' comparisons (-1 when they name none)."""
    arms = [arm for arm in (cert.evidence.preview, cert.evidence.final) if arm is not None]
    rows = [row for arm in arms for row in arm.comparisons or ()]
    named = [v for row in rows for v in (row.label, row.baseline_pred, row.subject_pred) if v is not None]
    return max(named, default=-1)


def _edit_problems(cert: c.Certificate) -> Iterator[str]:
    command, edit, configured = cert.provenance.command, cert.edit, dig(cert.provenance.config, "edit")
    if command not in _COMMANDS:
        yield f"provenance.command {command!r} is not one of {', '.join(_COMMANDS)}"
    if command in _EDITING and edit.name == "external":
        yield f"provenance.command {command} edits the baseline, yet the edit section says the subject is external"
    if configured is None and edit.name != "external":
        yield f"the run config names no edit, so the subject is external, not the edit {edit.name}"
    if configured is not None and not _resolves(configured, edit):
        yield "edit.name or edit.plan is not the run config's edit (the plan resolves what the config gives)"
    if (edit.name == "external") != (edit.deltas is None):
        yield "edit.deltas: an applied edit states what it changed, an external subject nothing"
    if edit.name == QUANT_RTN and edit.deltas is not None:
        yield from _quant_rtn_deltas_problems(edit.plan or {}, edit.deltas, cert.subject.param_count)


def _quant_rtn_deltas_problems(plan: dict[str, object], deltas: EditDeltas, params: int) -> Iterator[str]:
    """What quant_rtn states it changed, as it can state it: each module it lists at the plan's bit width, no more
    modules than max_modules, at most one block per module, and at least one parameter per module (the edits hunt:
    a bit width of 4 under a plan of 8 bits, a map naming modules the edit did not list, 999 layers verified)."""
    modules = deltas.modules_changed
    if deltas.bitwidth_map != {module: plan.get("bits") for module in modules}:
        bits = plan.get("bits")
        yield f"edit.deltas.bitwidth_map is not each of edit.deltas.modules_changed at the plan's {bits} bits"
    if len(set(modules)) != len(modules):
        yield "edit.deltas.modules_changed names a module twice"
    most = plan.get("max_modules")
    if isinstance(most, int) and len(modules) > most:
        yield f"edit.deltas.modules_changed lists {len(modules)} modules, more than the plan's max_modules {most}"
    blocks = _blocks_named(modules)
    if blocks is not None and deltas.layers_modified != len(blocks):
        yield f"edit.deltas.layers_modified {deltas.layers_modified} is not the {len(blocks)} blocks its modules name"
    elif deltas.layers_modified > len(modules):
        yield f"edit.deltas.layers_modified {deltas.layers_modified} is more than the {len(modules)} modules changed"
    if not len(modules) <= deltas.params_changed <= params:
        yield f"edit.deltas.params_changed {deltas.params_changed} is not between the modules changed and the subject's"


_BLOCK_NAME = re.compile("|".join(BLOCK_NAMES.values()))  # a block's index in a built-in architecture's names


def _blocks_named(modules: tuple[str, ...]) -> set[str] | None:
    """The block indices `modules` name, None when a name holds a number outside that naming (another adapter's)."""
    found = [_BLOCK_NAME.search(name) for name in modules]
    if any(match is None and any(ch.isdigit() for ch in name) for match, name in zip(found, modules, strict=True)):
        return None
    return {next(filter(None, match.groups())) for match in found if match is not None}


def _resolves(configured: object, edit: c.EditSection) -> bool:
    """The recorded edit is the configured one: same name, and every key the config gave with the same value in
    the resolved plan (which adds the edit's defaults); quant_rtn's plan is exactly what its resolution gives."""
    if not isinstance(configured, dict) or configured.get("name") != edit.name:
        return False
    given, plan = configured.get("plan") or {}, edit.plan or {}
    if not isinstance(given, dict):
        return False
    if edit.name == QUANT_RTN:  # built in: the whole plan follows from the config's (a forged default showed)
        try:
            return canonical_bytes(resolve_plan(given)) == canonical_bytes(plan)
        except UsageError:
            return False
    return all(key in plan and plan[key] == value for key, value in given.items())


def _count_problems(cert: c.Certificate) -> Iterator[str]:
    data = cert.dataset
    counts = {
        "baseline.param_count": cert.baseline.param_count,
        "subject.param_count": cert.subject.param_count,
        "dataset.windows_available": data.windows_available,
        "dataset.duplicates_dropped": data.duplicates_dropped,
        "dataset.stream_tokens": data.stream_tokens,
    }
    deltas = cert.edit.deltas
    if deltas is not None:
        counts |= {
            "edit.deltas.params_changed": deltas.params_changed,
            "edit.deltas.layers_modified": deltas.layers_modified,
        }
        counts |= {f"edit.deltas.bitwidth_map.{k}": v for k, v in deltas.bitwidth_map.items()}
    for name, value in counts.items():
        if value < 0 or (value == 0 and name.endswith("param_count")):
            yield f"{name} is {value}"
    if cert.tool.name != TOOL_NAME:
        yield f"tool.name is {cert.tool.name!r}, not {TOOL_NAME}: this verify vouches only for its own certificates"
    for name, section in cert.guards.items():  # a time is a duration: never negative
        phases = getattr(section, "phases", {})
        times = {name: section.seconds} | {f"{name}.phases.{p}": phase.seconds for p, phase in phases.items()}
        yield from (f"guards.{where}.seconds is {t}" for where, t in times.items() if not t >= 0)


def _identity_problems(cert: c.Certificate) -> Iterator[str]:
    """A model whose graph is data states its graph digest in every certificate of a release that records one: a
    forger who deleted it read as an earlier release's certificate, whose audit does not compare the graph."""
    if released_before(cert.tool.version, GRAPH_DIGEST_SINCE):
        return
    for role, section in (("baseline", cert.baseline), ("subject", cert.subject)):
        if section.adapter in GRAPH_DIGEST_ADAPTERS and section.graph_sha256 is None:
            since = ".".join(map(str, GRAPH_DIGEST_SINCE))
            yield f"{role}.graph_sha256 is missing: every {section.adapter} model's identity states it since {since}"


def provenance(cert: c.Certificate, report: VerifyReport) -> None:
    """The run id, times and seeds agree with the event log and each other; the dataset, metric and edit sections
    with the run's config; every count is a count, every guard time a duration, and the tool is InvarLock."""
    problems = [*_run_problems(cert), *_config_problems(cert), *_count_problems(cert), *_identity_problems(cert)]
    problems += reuse_problems(cert)
    detail = "run id, times, seeds, dataset, metric and edit agree with the event log and the run's config"
    report.add("provenance", not problems, problems[0] if problems else detail)
