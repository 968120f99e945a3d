"""ModelLoader port for Hugging Face checkpoints: local directories, `hf:ORG/NAME` ids, `gguf:PATH` files
(dequantized once to a cached checkpoint, adapters/hf_gguf.py) and the demo models.

Adapters: `hf_causal` (decoder-only LMs), `hf_seqcls` (a decoder's `*ForSequenceClassification` head, for
`accuracy`), `hf_encoder` (BERT-family encoders: pooled embeddings) and `hf_mlm` (BERT-family masked LMs:
masked-token NLL). `auto` picks hf_causal for a causal model type,
hf_mlm for a checkpoint whose config names a `*ForMaskedLM` architecture, and hf_encoder otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import ACCURACY, EMBEDDING_COSINE, PPL_CAUSAL, PPL_MLM
from invarlock.domain.model import LoadOptions

from . import heap, hf_demo, hf_placement
from .causal_reference import held_alone_obstacle
from .hf_architecture import SHAPE_KEYS, causal_model_types, read_checkpoint_config, rules_for, supported_model_types
from .hf_causal import HFCausalModel
from .hf_encoder import HFEncoderModel
from .hf_load_checks import as_usage_error, refuse_mismatched_shapes, refuse_unused_weights, require_every_weight
from .hf_matrix_names import check_weight_shapes, matrix_names, matrix_shapes
from .hf_mlm import HFMaskedLMModel
from .hf_quantized import check_quantized_environment
from .hf_reference import resolve, resolve_reference
from .hf_seq_classifier import HFSequenceClassifier
from .hf_tokenizer import HFTokenizer
from .hf_tokenizer_cache import tokenizer_of
from .hf_weight_files import check_weight_files
from .model_choices import DEVICES, DTYPES

ADAPTERS = ("auto", "hf_causal", "hf_encoder", "hf_mlm", "hf_seqcls")  # hf_seqcls: a causal LM's classification head
CAUSAL_TYPES = causal_model_types()
ENCODER_TYPES = tuple(t for t in supported_model_types() if not rules_for(t).causal)
HFModel = HFCausalModel | HFEncoderModel | HFMaskedLMModel
_CLASSES = {
    "hf_causal": HFCausalModel,
    "hf_encoder": HFEncoderModel,
    "hf_mlm": HFMaskedLMModel,
    "hf_seqcls": HFSequenceClassifier,
}
_AUTO_CLASSES = {
    "hf_causal": "AutoModelForCausalLM",
    "hf_encoder": "AutoModel",
    "hf_mlm": "AutoModelForMaskedLM",
    "hf_seqcls": "AutoModelForSequenceClassification",
}
_DECODER_ADAPTERS = ("hf_causal", "hf_seqcls")  # adapters of decoder-only model types
# The built-in metric kinds whose evidence each adapter scores (docs/user-guide.md, Models; ScoredKinds): causal
# token NLL and zero-shot answers, a classification head's answers, pooled embeddings, masked-token NLL.
SCORED_KINDS = {
    "hf_causal": (PPL_CAUSAL.kind, ACCURACY.kind),
    "hf_seqcls": (ACCURACY.kind,),
    "hf_encoder": (EMBEDDING_COSINE.kind,),
    "hf_mlm": (PPL_MLM.kind,),
}


def demo_model_dir() -> Path:
    """Directory of the demo causal LM (`demo:smollm2-135m`), converting the packaged GGUF on first use."""
    return hf_demo.demo_model_dir()


DEFAULTS = LoadOptions()  # the adapter picked from the model's files, the best device, float32


class HFModelLoader:
    """Loads causal LMs, encoders and masked LMs offline with transformers (network only with
    INVARLOCK_ALLOW_NETWORK=1)."""

    def load(self, ref: str, options: LoadOptions = DEFAULTS) -> HFModel:
        """Load `ref` (a directory, `hf:ORG/NAME`, a bare hub id such as `gpt2` found in the HF cache, `gguf:PATH`,
        `demo:smollm2-135m` or `demo:minilm-l6`) for scoring and editing. A GGUF file's weights are dequantized to
        float32 once (cached), then cast to `dtype`. With a `placement`, accelerate spreads the model over the
        devices (adapters/hf_placement.py) instead of moving it whole to its device.

        Raises:
            UsageError: E101 missing path, E102 not a model, E103 hf id not offline-available,
                E104 unknown adapter/device/dtype, a model type the adapter cannot run, or unavailable device.
        """
        _check_choice("adapter", options.adapter, ADAPTERS)
        _check_choice("dtype", options.dtype, DTYPES)
        torch_device = resolve_device(options.device)
        if torch_device == "cpu":
            heap.keep_freed_memory()
        spread = hf_placement.keywords(options.placement, options.device)
        try:
            path, gguf = resolve(ref)
            kind = loadable_adapter(path, options.adapter)
            module, tokenizer = _load_pretrained(path, options.dtype, kind, spread), tokenizer_of(path)
            module = hf_placement.placed(module, spread) if spread else module.to(torch_device)
        except BaseException:  # the offload folder made for it is left behind otherwise (Ctrl-C included)
            hf_placement.discard(spread)
            raise
        if gguf is None:
            return _CLASSES[kind](module, tokenizer, ref=ref, batch_size=options.batch_size)
        decoder = HFSequenceClassifier if kind == "hf_seqcls" else HFCausalModel
        return decoder(module, tokenizer, ref=ref, batch_size=options.batch_size, gguf=gguf)

    def tokenizer(self, ref: str, *, adapter: str = "auto") -> HFTokenizer:
        """The tokenizer of `ref` alone (no weights read), as `load(ref).tokenizer()` gives it, once its checkpoint's
        files show the load would take them (loadable_adapter, hf_matrix_names.check_weight_shapes).

        Raises:
            UsageError: E101/E102/E103 as `load` for the reference, E104 unknown adapter or model type.
        """
        _check_choice("adapter", adapter, ADAPTERS)
        path = resolve_reference(ref)
        check_weight_shapes(path, _AUTO_CLASSES[loadable_adapter(path, adapter)])
        return tokenizer_of(path)

    def shape_settings(self, ref: str, *, adapter: str = "auto") -> dict[str, int]:
        """The SHAPE_KEYS its config.json states as positive integers (config-level keys only). No weights are read."""
        _check_choice("adapter", adapter, ADAPTERS)
        path = resolve_reference(ref)
        resolve_adapter(path, adapter)
        config = read_checkpoint_config(path)
        return {key: config[key] for key in SHAPE_KEYS if _positive(config.get(key))}

    def scored_kinds(self, ref: str, *, adapter: str = "auto") -> tuple[str, tuple[str, ...]]:
        """The adapter that runs `ref` (`adapter`, or the one `auto` picks from its config.json) and the metric kinds
        it scores (SCORED_KINDS). No weights are read."""
        _check_choice("adapter", adapter, ADAPTERS)
        chosen = resolve_adapter(resolve_reference(ref), adapter)
        return chosen, SCORED_KINDS[chosen]

    def matrix_names(self, ref: str, *, adapter: str = "auto") -> tuple[str, ...] | None:
        """ports.loader.MatrixNames: the 2-D parameter names of the module `adapter` loads `ref` into, tied aliases
        included (hf_matrix_names: built on the meta device); None for a pre-quantized checkpoint. No weights are
        read."""
        _check_choice("adapter", adapter, ADAPTERS)
        path = resolve_reference(ref)
        return matrix_names(path, _AUTO_CLASSES[resolve_adapter(path, adapter)])

    def matrix_shapes(self, ref: str, *, adapter: str = "auto") -> dict[str, tuple[int, ...]] | None:
        """ports.loader.MatrixShapes: matrix_names' parameters with their shapes (built on the meta device)."""
        _check_choice("adapter", adapter, ADAPTERS)
        path = resolve_reference(ref)
        return matrix_shapes(path, _AUTO_CLASSES[resolve_adapter(path, adapter)])

    def context_length(self, ref: str, *, adapter: str = "auto") -> int | None:
        """The most window tokens one forward pass of `ref` takes, from its config.json's position table
        (`max_position_embeddings`, GPT-2's `n_positions`): all of it for a causal model; for an encoder, less the
        [CLS] and [SEP] its adapters add, and for RoBERTa less the positions its ids skip (they start after
        `pad_token_id`). None for a config that states no table. No weights are read."""
        _check_choice("adapter", adapter, ADAPTERS)
        path = resolve_reference(ref)
        chosen = resolve_adapter(path, adapter)
        config = read_checkpoint_config(path)
        table = next((v for v in map(config.get, ("max_position_embeddings", "n_positions")) if _positive(v)), None)
        if table is None or chosen in _DECODER_ADAPTERS:
            return table
        skipped = _position_ids_skipped(config)
        return None if skipped is None else max(table - 2 - skipped, 0)

    def sequential_obstacle(
        self, ref: str, options: LoadOptions, *, window_tokens: int | None, stated: bool = False
    ) -> str | None:
        """Why a run should hold `ref` beside the other model (causal_reference.held_alone_obstacle: an adapter
        other than hf_causal, a device map, a device other than the CPU, a family whose LM head does not split off,
        windows too short to keep; `stated`: only those that stop a run setting eval.sequential: true), None when
        it may hold it alone. No weights are read."""
        _check_choice("adapter", options.adapter, ADAPTERS)
        path = resolve_reference(ref)
        kind = resolve_adapter(path, options.adapter)
        family = read_checkpoint_config(path).get("model_type")
        device = resolve_device(options.device)
        return held_alone_obstacle(kind, family, device, options.placement is not None, window_tokens, stated=stated)


def _positive(value: object) -> bool:
    return type(value) is int and value > 0


def _position_ids_skipped(config: dict[str, Any]) -> int | None:
    """The position ids an encoder never gives a token: RoBERTa's start after its pad_token_id (None when that is
    no id), BERT's at 0."""
    if config["model_type"] != "roberta":
        return 0
    pad = config.get("pad_token_id", 1)
    return pad + 1 if type(pad) is int and pad >= 0 else None


def resolve_device(device: str) -> str:
    """A concrete torch device name for `auto|cpu|cuda|mps`. Raises UsageError E104."""
    import torch

    _check_choice("device", device, DEVICES)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if device == "auto":
        return next(name for name in ("cuda", "mps", "cpu") if available[name])
    if not available[device]:
        raise UsageError("E104", f"device '{device}' is not available here", "use --device auto or cpu")
    return device


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError("E104", f"unknown {field} '{value}'", f"use one of {', '.join(choices)}")


def loadable_adapter(path: Path, adapter: str) -> str:
    """resolve_adapter, once the checkpoint's files show it can load here without reading its weights: its
    quantization's packages and device (hf_quantized) and its safetensors files' lengths (hf_weight_files)."""
    chosen = resolve_adapter(path, adapter)
    check_quantized_environment(path, read_checkpoint_config(path))
    check_weight_files(path)
    return chosen


def resolve_adapter(path: Path, adapter: str) -> str:
    """The adapter that runs the checkpoint at `path`: `adapter` itself when it fits the model type, or the
    one `auto` picks. Raises UsageError E104 when the model type has no rules or does not fit `adapter`."""
    config = read_checkpoint_config(path)
    model_type = config["model_type"]
    causal = rules_for(model_type).causal
    architectures = config.get("architectures") or []
    masked = any(isinstance(a, str) and a.endswith("ForMaskedLM") for a in architectures)
    chosen = adapter if adapter != "auto" else "hf_causal" if causal else "hf_mlm" if masked else "hf_encoder"
    if causal != (chosen in _DECODER_ADAPTERS):
        types = CAUSAL_TYPES if chosen in _DECODER_ADAPTERS else ENCODER_TYPES
        raise UsageError(
            "E104", f"{path}: adapter {chosen} cannot run model_type '{model_type}'", f"it runs {', '.join(types)}"
        )
    return chosen


def _load_pretrained(path: Path, dtype: str, adapter: str, spread: dict[str, Any] | None = None) -> Any:
    """The module of a checkpoint, in eval mode; `spread` holds from_pretrained's device-map keywords."""
    import torch
    import transformers

    with as_usage_error(path), hf_demo.quiet_transformers():
        auto = getattr(transformers, _AUTO_CLASSES[adapter])
        module, info = auto.from_pretrained(
            path,
            dtype=getattr(torch, dtype),
            local_files_only=True,
            output_loading_info=True,
            ignore_mismatched_sizes=True,  # refused below, naming the weights (transformers' error says "above report")
            **(spread or {}),
        )
    refuse_mismatched_shapes(sorted(info.get("mismatched_keys") or ()), path)
    require_every_weight(module, sorted(info.get("missing_keys") or ()), path, adapter)
    if adapter == "hf_causal":
        refuse_unused_weights(sorted(info.get("unexpected_keys") or ()), path)
    return module.eval()
