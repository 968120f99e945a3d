"""The run configuration (seed schema): typed, strict, unknown keys are errors naming the key."""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

import msgspec
from invarlock.domain.errors import UsageError
from invarlock.domain.guards.plugin import plugin_guard
from invarlock.domain.metrics import ACCURACY, DEFAULT_KIND, metric_for
from invarlock.domain.model import DevicePlacement
from invarlock.domain.policy import DEFAULT_GUARD_ORDER, GUARD_NAMES

from .config_execution import ExecutionConfig, check_execution
from .config_upstream import translate_upstream

DEMO_MODEL = "demo:smollm2-135m"
DEMO_CORPUS = "demo:wikipedia"
HF_PROVIDER = "hf"
_HUB_KEYS = ("name", "config", "revision")
_PLACEMENT_KEYS = ("device_map", "max_memory")


class _C(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ModelConfig(_C, frozen=True):
    """Which model and how to load it. `device_map: auto` (with an optional `max_memory` per device) spreads a
    model too large for one device over the accelerators, RAM and disk; unset, neither is recorded."""

    id: str = DEMO_MODEL
    adapter: str = "auto"
    device: str = "auto"
    dtype: str = "float32"
    device_map: str | None = None
    max_memory: dict[str, str] | None = None

    @property
    def placement(self) -> DevicePlacement | None:
        """The DevicePlacement the loader gets (None: the whole model on `device`)."""
        if self.device_map is None:
            return None
        return DevicePlacement(device_map=self.device_map, max_memory=self.max_memory)


class DatasetConfig(_C, frozen=True):
    """Where the text comes from and how it is cut into windows. `name`, `config` and `revision` name a hub
    dataset (provider `hf` only); unset, they are not recorded (configs encode as before they existed)."""

    provider: str = DEMO_CORPUS
    path: str | None = None
    file: str | None = None
    text_field: str = "text"
    label_field: str = "label"
    split: str = "validation"
    seq_len: int = 256
    stride: int | None = None
    preview_n: int = 180
    final_n: int = 200
    calibration_n: int = 8
    seed: int = 42
    name: str | None = None
    config: str | None = None
    revision: str | None = None

    @property
    def source_path(self) -> str | None:
        return self.path or self.file

    @property
    def hub(self) -> dict[str, str]:
        """The hub dataset keywords of CorpusResolver.open / open_labelled that are set (none for other providers)."""
        given = {"name": self.name, "config": self.config, "revision": self.revision}
        return {key: value for key, value in given.items() if value is not None}

    @property
    def effective_stride(self) -> int:
        return self.stride if self.stride is not None else self.seq_len


class EditConfig(_C, frozen=True):
    name: str
    plan: dict[str, Any] = {}


class MetricConfig(_C, frozen=True, omit_defaults=True):
    """`kind` selects the primary metric. Kind `accuracy` with a causal LM scores zero-shot: `template` (one
    `{text}` field) makes each example's prompt, `label_words` gives one continuation per label (in the
    dataset's label order); with a classification head both stay unset. Unset keys are not recorded."""

    kind: str
    template: str | None = None
    label_words: list[str] | None = None


class SecondaryConfig(_C, frozen=True):
    """`gate: true` gates the secondary metrics (KL, top-1 agreement) at the tier's limits. `measure: false`
    records no paired measures for a perplexity kind (no KL or top-1 agreement; the certificate then has no
    secondary metrics), which lets the run reuse an earlier scoring of its baseline. Unset, it is not recorded."""

    gate: bool = False
    measure: bool | None = None


class EvalConfig(_C, frozen=True):
    """`reuse: false` (or `--no-reuse`) scores the baseline even when the event store holds an identical
    earlier scoring of it (docs/reference/baseline-reuse.md); unset (reuse on), it is not recorded."""

    metric: MetricConfig = MetricConfig(kind=DEFAULT_KIND)
    secondary: SecondaryConfig = SecondaryConfig()
    batch_size: int | None = None
    reuse: bool | None = None

    @property
    def measures_pairs(self) -> bool:
        """Whether the run records paired measures (KL, top-1) of a perplexity kind: unless measure: false."""
        return self.secondary.measure is not False


FULL_CHAIN = DEFAULT_GUARD_ORDER


class GuardsConfig(_C, frozen=True):
    """The chain order and per-guard settings (`mode`, spectral `repair`, variance `targets`). A plugin guard's
    section (guards.<name>: its thresholds and mode) is held in `plugins`; it is written back under its own name
    when the config is recorded (config_to_dict)."""

    order: list[str] = msgspec.field(default_factory=lambda: list(FULL_CHAIN))
    spectral: dict[str, object] = {}
    rmt: dict[str, object] = {}
    variance: dict[str, object] = {}
    plugins: dict[str, dict[str, object]] = {}

    def overrides(self) -> dict[str, dict[str, object]]:
        """The per-guard settings given in the config (validated when the policy is resolved)."""
        given = {"spectral": self.spectral, "rmt": self.rmt, "variance": self.variance, **self.plugins}
        return {name: dict(values) for name, values in given.items() if values}


class AutoConfig(_C, frozen=True):
    tier: str = "balanced"


class OutputConfig(_C, frozen=True):
    dir: str = "reports"


class RunConfig(_C, frozen=True):
    """A whole config file. Every section is optional; defaults are the embedded demo."""

    model: ModelConfig = ModelConfig()
    dataset: DatasetConfig = DatasetConfig()
    edit: EditConfig | None = None
    eval: EvalConfig = EvalConfig()
    guards: GuardsConfig = GuardsConfig()
    auto: AutoConfig = AutoConfig()
    output: OutputConfig = OutputConfig()
    profile: str | None = None
    execution: ExecutionConfig | None = None


SUPPORTED_GUARDS = GUARD_NAMES


def _path_of(message: str) -> str:
    found = re.search(r"at `\$\.?([^`]*)`", message)
    return found.group(1) if found else ""


def _keys_at(where: str) -> tuple[str, ...]:
    """The keys of the config section at dotted path `where` ("" for the top level)."""
    cls: Any = RunConfig
    for part in filter(None, where.split(".")):
        hints = typing.get_type_hints(cls)
        cls = next((t for t in (hints.get(part), *typing.get_args(hints.get(part))) if _is_section(t)), None)
        if cls is None:
            return ()
    return tuple(cls.__struct_fields__)


def _is_section(t: object) -> bool:
    return isinstance(t, type) and issubclass(t, msgspec.Struct)


def _suggestion(where: str, unknown: str) -> str:
    keys = _keys_at(where)
    close = difflib.get_close_matches(unknown, keys, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}?"
    return f"keys of {where or 'the top level'}: {', '.join(keys)}" if keys else "remove it or fix its spelling"


def parse_config(data: Any, *, source: str) -> RunConfig:
    """Validate a decoded YAML mapping, InvarLock 0.3.7 keys translated first (config_upstream.py). Raises
    UsageError E201 naming the file and the offending key (with the closest known key when one is near)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError("E201", f"{source}: the config must be a mapping of sections", "see docs/user-guide.md")
    data = _plugin_sections(translate_upstream(data, source))
    try:
        cfg = msgspec.convert(data, RunConfig)
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = _path_of(text)
        if text.startswith("Object contains unknown field"):
            key = re.search(r"`([^`]*)`", text)
            unknown = key.group(1) if key else "?"
            full = f"{where}.{unknown}" if where else unknown
            raise UsageError("E201", f"{source}: unknown key '{full}'", _suggestion(where, unknown)) from exc
        raise UsageError("E201", f"{source}: {text}", "fix the value named above") from exc
    _check_semantics(cfg, source)
    return cfg


def _plugin_sections(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with each guards.<name> section of a plugin guard moved under guards.plugins.<name>."""
    guards = data.get("guards")
    if not isinstance(guards, dict) or "plugins" in guards:
        return data
    fields = GuardsConfig.__struct_fields__
    moved = {k: v for k, v in guards.items() if k not in fields and plugin_guard(str(k)) is not None}
    if not moved:
        return data
    kept = {k: v for k, v in guards.items() if k not in moved}
    return {**data, "guards": {**kept, "plugins": moved}}


def _check_semantics(cfg: RunConfig, source: str) -> None:
    try:
        metric_for(cfg.eval.metric.kind)
    except UsageError as exc:
        raise UsageError(exc.code, f"{source}: {exc.message}", exc.hint) from exc
    _check_order(cfg.guards.order, source)
    _check_metric_keys(cfg, source)
    _check_hub_keys(cfg.dataset, source)
    check_execution(cfg.execution, source)
    _check_placement(cfg.model, source)
    if cfg.dataset.preview_n < 2 or cfg.dataset.final_n < 2:
        raise UsageError("E201", f"{source}: dataset.preview_n and dataset.final_n must be >= 2", "raise them")
    if cfg.eval.secondary.gate and cfg.eval.secondary.measure is False:
        raise UsageError(
            "E201", f"{source}: eval.secondary.gate needs the secondary metrics measured", "drop measure: false"
        )
    if cfg.eval.batch_size is not None and cfg.eval.batch_size < 1:
        raise UsageError(
            "E201", f"{source}: eval.batch_size must be >= 1", "use e.g. 8, or leave it out for the default"
        )


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
    if cfg.dataset.calibration_n != 0:
        raise UsageError(
            "E201",
            f"{source}: kind accuracy takes dataset.calibration_n: 0 (examples are not calibration windows)",
            "set dataset.calibration_n: 0",
        )


def _check_hub_keys(ds: DatasetConfig, source: str) -> None:
    if ds.hub and ds.provider != HF_PROVIDER:
        keys = ", ".join(f"dataset.{key}" for key in ds.hub)
        raise UsageError("E201", f"{source}: {keys} name a hub dataset: they need provider: hf", "set provider: hf")


def _check_order(order: list[str], source: str) -> None:
    for name in order:
        if name not in SUPPORTED_GUARDS and plugin_guard(name) is None:
            raise UsageError(
                "E201",
                f"{source}: guards.order names unknown guard '{name}'",
                f"available guards: {', '.join(SUPPORTED_GUARDS)}",
            )
    if len(order) < 2 or order[0] != "invariants" or order[-1] != "invariants" or order.count("invariants") != 2:
        raise UsageError(
            "E201",
            f"{source}: guards.order must start and end with invariants (and name it only there)",
            f"e.g. [{', '.join(FULL_CHAIN)}]",
        )
    repeated = sorted({n for n in order if n != "invariants" and order.count(n) > 1})
    if repeated:
        raise UsageError("E201", f"{source}: guards.order names {', '.join(repeated)} twice", "name each guard once")


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """The config as recorded (run_started, the certificate's provenance); unset hub and placement keys and
    an unset execution section are left out (configs encode as before they existed)."""
    result: dict[str, Any] = msgspec.to_builtins(cfg)
    guards = result["guards"]
    guards.update(guards.pop("plugins"))
    if result["execution"] is None:
        del result["execution"]
    dataset = result["dataset"]
    for key in _HUB_KEYS:
        if dataset[key] is None:
            del dataset[key]
    _drop_unset(result["eval"], "reuse")
    _drop_unset(result["eval"]["secondary"], "measure")
    result["model"] = model_to_dict(cfg.model)
    return result


def _drop_unset(section: dict[str, Any], key: str) -> None:
    if section[key] is None:
        del section[key]


def model_to_dict(model: ModelConfig) -> dict[str, Any]:
    """A model section as recorded: `device_map`/`max_memory` only when set (configs encode as before)."""
    result: dict[str, Any] = msgspec.to_builtins(model)
    for key in _PLACEMENT_KEYS:
        if result[key] is None:
            del result[key]
    return result


def _check_placement(model: ModelConfig, source: str) -> None:
    if model.max_memory is not None and model.device_map is None:
        raise UsageError("E201", f"{source}: model.max_memory needs model.device_map", "add device_map: auto")
