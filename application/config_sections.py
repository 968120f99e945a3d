"""The run configuration's sections (seed schema): typed, strict Structs whose defaults are the embedded demo.
Re-exported by application/config.py, which parses and checks them."""

from __future__ import annotations

from typing import Any

import msgspec
from invarlock.domain.metrics import DEFAULT_KIND, pairs_measurable
from invarlock.domain.model import DevicePlacement
from invarlock.domain.policy import DEFAULT_GUARD_ORDER, GUARD_NAMES

from .config_execution import ExecutionConfig

DEMO_MODEL = "demo:smollm2-135m"
DEMO_CORPUS = "demo:wikipedia"
HF_PROVIDER = "hf"


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
    earlier scoring of it (docs/reference/baseline-reuse.md); unset (reuse on), it is not recorded.
    `sequential: true` holds one model at a time: everything the run needs from the baseline is measured and
    scored, the baseline released, then the subject loaded (docs/reference/sequential.md); unset, not recorded."""

    metric: MetricConfig = MetricConfig(kind=DEFAULT_KIND)
    secondary: SecondaryConfig = SecondaryConfig()
    batch_size: int | None = None
    reuse: bool | None = None
    sequential: bool | None = None

    @property
    def measures_pairs(self) -> bool:
        """Whether the run records paired measures (KL, top-1): unless measure: false, for a kind whose evidence
        holds them (metrics.pairs_measurable: not a masked LM's, which a run then scores and holds as any
        per-model kind: one model at a time, its baseline's scores copied from an earlier identical run)."""
        return self.secondary.measure is not False and pairs_measurable(self.metric.kind)

    @property
    def reuses_baseline(self) -> bool:
        """Whether the run may copy an earlier run's baseline work: unless reuse: false."""
        return self.reuse is not False


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
