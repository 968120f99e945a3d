"""Value objects describing a loaded model, its scored windows and its tensors (no framework types)."""

from __future__ import annotations

import msgspec


class GGUFSource(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The GGUF file a model was dequantized from (docs/reference/certificate.md, `gguf`).

    `file_sha256`: sha256 of the file's bytes. `tensor_types`: GGML type name (`Q4_1`, `Q8_0`, `F32`, ...) ->
    how many tensors the file stores in it. `tensor_types_sha256`: sha256 of the per-tensor list, one line
    `name<TAB>type<LF>` per tensor, sorted by name (UTF-8). `metadata_sha256`: sha256 of the canonical JSON
    (sorted keys, no spaces, UTF-8) of every metadata key/value pair, each value as `[GGUF type, value]`
    (the `GGUF.*` header counters excluded).
    """

    file_sha256: str
    tensor_types: dict[str, int]
    tensor_types_sha256: str
    metadata_sha256: str


DEVICE_MAPS = ("auto",)  # model.device_map: accelerate places the blocks over GPUs, CPU RAM and disk


class DevicePlacement(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a model too large for one device is spread: `device_map` "auto" lets accelerate place each block on
    the accelerators, then CPU RAM, then disk; `max_memory` caps what it puts on each device (`{"0": "20GiB",
    "cpu": "60GiB"}`: device -> size, accelerate's notation), None leaves the whole of each device usable."""

    device_map: str
    max_memory: dict[str, str] | None = None


# Windows per forward pass, at most: far above any run's, and below what torch can index (a batch of 10**30
# windows ended certify and the audit in E999); `eval.batch_size` beyond it is refused where it is read.
MAX_BATCH_SIZE = 65_536
# Adapters whose model's graph is data, digested as ModelIdentity.graph_sha256 by every release since the first
GRAPH_DIGEST_ADAPTERS = ("onnx",)
GRAPH_DIGEST_SINCE = (0, 3, 8)
# How the built-in architectures name a transformer block in a weight's name (group 1: its index): the adapters
# place each matrix in its block by these, and verify counts the blocks a quant_rtn certificate's modules name
BLOCK_NAMES = {"gpt2": r"(?:^|\.)h\.(\d+)\.", "llama": r"(?:^|\.)layers\.(\d+)\.", "bert": r"(?:^|\.)layer\.(\d+)\."}


class LoadOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a ModelLoader loads a reference: `adapter` by name (`auto`: picked from the model's files), `device`
    (`auto`, `cpu`, `cuda`, `cuda:1`, `mps`), `dtype` of the weights (`float32`, `bfloat16`, `float16`),
    `batch_size` windows per forward pass (None: the adapter's default) and `placement` (a device map spreading
    the model; None: the whole model on `device`)."""

    adapter: str = "auto"
    device: str = "auto"
    dtype: str = "float32"
    batch_size: int | None = None
    placement: DevicePlacement | None = None


class ModelIdentity(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Who a model is: digests over its weights, tokenizer and config, plus how it was loaded.

    Recorded as is by the model_fingerprinted event and stated as is by the certificate's baseline and
    subject sections. `gguf` is set only for a model loaded from a GGUF file (`gguf:PATH`) and then written
    (schema v2); identities without it encode as before it existed.
    `runtime` names the inference runtime, its version and execution provider when it is not the
    environment's torch (`onnxruntime 1.32.0 CPUExecutionProvider` for the onnx adapter; schema v2); omitted
    for torch-run models. `unmapped` names the 2-D weights the adapter cannot map to a model weight, each
    with the reason (`WeightSource.unmapped`; schema v2): the weight guards record them as not applicable.
    `graph_sha256` digests the computation graph of a model whose graph is data rather than its adapter's
    code (the onnx adapter: every node, the graph's inputs and outputs, opsets and functions; schema v2);
    omitted for models whose architecture the adapter's code builds.
    """

    ref: str
    adapter: str
    architecture: str
    weights_sha256: str
    tokenizer_sha256: str
    config_sha256: str
    param_count: int
    dtype: str
    device: str
    gguf: GGUFSource | None = None
    runtime: str | None = None
    unmapped: dict[str, str] | None = None
    device_map: dict[str, str] | None = None
    graph_sha256: str | None = None


class WindowScore(msgspec.Struct, frozen=True, kw_only=True):
    """Scoring of one window: tokens scored (seq_len - 1 for causal LMs) and the float64 NLL sum in nats."""

    window_id: int
    tokens_scored: int
    nll_sum: float


class ActivationStats(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Float64 running sums over every output value of one module (all tokens, all channels)."""

    count: int
    sum: float
    sum_sq: float


class TensorInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Structural facts about one named tensor, enough for the invariants guard."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    finite: bool
    all_zero: bool


class TensorCensus(msgspec.Struct, frozen=True, kw_only=True):
    """Every parameter tensor of a model, its tied-weight groups, its config digest and the names of the 2-D
    weights the adapter cannot map (listed with their stored layout, so not compared by shape or dtype)."""

    tensors: tuple[TensorInfo, ...]
    tied_groups: tuple[tuple[str, ...], ...]
    config_sha256: str
    tokenizer_sha256: str
    unmapped: tuple[str, ...] = ()


class EditDeltas(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Structural deltas of an edit: parameters and layers it changed, the modules and their bit widths."""

    params_changed: int
    layers_modified: int
    modules_changed: tuple[str, ...]
    bitwidth_map: dict[str, int]


class EditOutcome(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an edit did: its resolved plan, the sha256 of the plan's canonical JSON and structural deltas.

    Recorded as is by the edit_applied event; the certificate's edit section states the same fields.
    """

    name: str
    plan: dict[str, object]
    plan_digest: str
    deltas: EditDeltas


class CorpusInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Where text came from: provider name, split, source (file or package path) and licence note.

    `fingerprint` and `revision` are set only by the `hf` provider (a `datasets` dataset): the dataset's
    `datasets` fingerprint and the revision it was read at (a hub commit; None for local data). Unset, they
    are not written, so corpora of other providers encode as before they existed.
    """

    provider: str
    split: str
    source: str
    licence: str
    fingerprint: str | None = None
    revision: str | None = None


class WindowComparison(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Paired measures of one window (or example), computed while both models' outputs were in memory.

    Which fields are set depends on what the runner measures; the rest stay None (and are not written):
    - causal LMs (secondary metrics): `kl_sum` (Σ over positions of KL(baseline ‖ subject), nats, float64),
      `kl_max`, `kl_histogram` (positions per KL bin, domain/metrics/kl_bins), `top1_agree` (positions
      whose argmax agree) and `top5_overlap` (Σ over positions of |top-5 baseline ∩ top-5 subject|);
    - embedding similarity: `cosine` of the two models' pooled, L2-normalised embeddings;
    - classification accuracy: the gold `label` and each model's predicted label.
    `positions` is how many positions (tokens, or 1 for an example) the measures cover.
    """

    window_id: int
    positions: int
    kl_sum: float | None = None
    kl_max: float | None = None
    kl_histogram: tuple[int, ...] | None = None
    top1_agree: int | None = None
    top5_overlap: int | None = None
    cosine: float | None = None
    label: int | None = None
    baseline_pred: int | None = None
    subject_pred: int | None = None


class PairedScore(msgspec.Struct, frozen=True, kw_only=True):
    """One window scored in lockstep by the baseline (`mine` in ModelRunner.score_pair) and the subject.

    `baseline`/`subject` are the per-model scores (None for a task with no per-model NLL, e.g. an
    encoder's embeddings); `comparison` the paired measures (None when the runner measures none)."""

    window_id: int
    baseline: WindowScore | None
    subject: WindowScore | None
    comparison: WindowComparison | None
