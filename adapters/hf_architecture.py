"""Per-architecture weight rules: the family of each weight, its block index and its output-channel axis.

Rules are keyed by the HF config's `model_type`; every other module resolves through them, so no module
name heuristics live anywhere else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.model import BLOCK_NAMES

FAMILIES = ("attn", "ffn", "embed", "other")


@dataclass(frozen=True)
class ArchitectureRules:
    """How one architecture names its weights.

    Attributes:
        name: Short architecture name ("gpt2", "llama", "bert").
        causal: Whether the architecture is a decoder-only causal LM.
        families: Ordered (family, pattern) pairs matched against module names; the first match wins.
        block: Pattern whose first group is the transformer block index.
        transposed: Pattern of modules stored (in, out) like GPT-2's Conv1D; None when all are (out, in).
        variance_tap: Pattern of the FFN output modules the variance guard taps (pre-residual).
    """

    name: str
    causal: bool
    families: tuple[tuple[str, re.Pattern[str]], ...]
    block: re.Pattern[str]
    variance_tap: re.Pattern[str]
    transposed: re.Pattern[str] | None = None

    def family(self, name: str) -> str:
        """Family ("attn" | "ffn" | "embed" | "other") of a parameter or module name."""
        module = _module_name(name)
        for family, pattern in self.families:
            if pattern.search(module):
                return family
        return "other"

    def block_index(self, name: str) -> int | None:
        """Index of the transformer block holding `name`, or None outside the blocks."""
        match = self.block.search(_module_name(name))
        return int(match.group(1)) if match else None

    def output_axis(self, name: str) -> int:
        """Axis of a 2-D weight that indexes output channels: 0 for nn.Linear, 1 for GPT-2 Conv1D."""
        module = _module_name(name)
        return 1 if self.transposed is not None and self.transposed.search(module) else 0

    def is_variance_tap(self, name: str) -> bool:
        """Whether a weight belongs to a module the variance guard taps."""
        return self.variance_tap.search(_module_name(name)) is not None

    def in_scope(self, name: str, scope: str) -> bool:
        """Whether a block weight belongs to an edit scope: "attn", "ffn" or "all" (any block weight)."""
        if self.block_index(name) is None:
            return False
        return scope == "all" or self.family(name) == scope


def _module_name(name: str) -> str:
    for suffix in (".weight", ".bias"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _rules(*pairs: tuple[str, str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((family, re.compile(pattern)) for family, pattern in pairs)


_GPT2 = ArchitectureRules(
    name="gpt2",
    causal=True,
    families=_rules(
        ("attn", r"\.attn\.(c_attn|q_attn|c_proj)$"),
        ("ffn", r"\.mlp\.(c_fc|c_proj)$"),
        ("embed", r"(^|\.)(wte|wpe|lm_head)$"),
    ),
    block=re.compile(BLOCK_NAMES["gpt2"]),
    variance_tap=re.compile(r"\.mlp\.c_proj$"),
    transposed=re.compile(r"\.(attn\.(c_attn|q_attn|c_proj)|mlp\.(c_fc|c_proj))$"),
)

_LLAMA = ArchitectureRules(
    name="llama",
    causal=True,
    families=_rules(
        ("attn", r"\.self_attn\.(q|k|v|o)_proj$"),
        ("ffn", r"\.mlp\.(gate|up|down)_proj$"),
        ("embed", r"(^|\.)(embed_tokens|lm_head)$"),
    ),
    block=re.compile(BLOCK_NAMES["llama"]),
    variance_tap=re.compile(r"\.mlp\.down_proj$"),
)

# BERT family, named as AutoModel loads it (`encoder.layer.N...`) or under a task head (`bert.encoder.layer.N...`,
# RoBERTa `roberta.`): the MLM head's decoder (`cls.predictions.decoder`, RoBERTa `lm_head.decoder`) projects to
# the vocabulary like an LM head; the pooler and the MLM head's transform sit outside the blocks.
_BERT = ArchitectureRules(
    name="bert",
    causal=False,
    families=_rules(
        ("attn", r"\.attention\.(self\.(query|key|value)|output\.dense)$"),
        ("ffn", r"\.layer\.\d+\.(intermediate\.dense|output\.dense)$"),
        ("embed", r"(^|\.)embeddings\.(word|position|token_type)_embeddings$|(^|\.)(predictions|lm_head)\.decoder$"),
        ("other", r"(^|\.)pooler\.dense$|(^|\.)(predictions\.transform|lm_head)\.dense$"),
    ),
    block=re.compile(BLOCK_NAMES["bert"]),
    variance_tap=re.compile(r"\.layer\.\d+\.output\.dense$"),
)

_BY_MODEL_TYPE: dict[str, ArchitectureRules] = {
    "gpt2": _GPT2,
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": _LLAMA,
    "qwen3": _LLAMA,
    "bert": _BERT,
    "roberta": _BERT,
}


def supported_model_types() -> tuple[str, ...]:
    """Every config.model_type with weight rules, sorted."""
    return tuple(sorted(_BY_MODEL_TYPE))


def causal_model_types() -> tuple[str, ...]:
    """The model types whose rules are a causal LM's (the hf_causal and onnx adapters run them), sorted."""
    return tuple(t for t in supported_model_types() if _BY_MODEL_TYPE[t].causal)


def rules_for(model_type: str) -> ArchitectureRules:
    """The rules for a config.model_type.

    Raises:
        UsageError: E104 when the model type has no rules.
    """
    rules = _BY_MODEL_TYPE.get(model_type)
    if rules is None:
        raise UsageError(
            "E104",
            f"config.json model_type '{model_type}' is not supported",
            f"use a model of type {', '.join(supported_model_types())}",
        )
    return rules


def read_checkpoint_config(directory: Path) -> dict[str, Any]:
    """A checkpoint folder's config.json as a mapping with a `model_type` string and, when given, `architectures`
    as a list of names; UsageError E102 naming the file otherwise (unreadable, not JSON, nested past Python's
    recursion limit, or of other types)."""
    path = directory / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        raise UsageError(
            "E102", f"{path} is unreadable: {type(error).__name__}: {error}", "repair the checkpoint"
        ) from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise UsageError("E102", f"{path} has no model_type", "copy the Hugging Face checkpoint's config.json")
    names = config.get("architectures")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise UsageError(
            "E102", f"{path}: architectures is not a list of class names", "repair the checkpoint's config.json"
        )
    _check_sizes(path, config)
    return config


# Each changes a weight matrix's shape or the number of matrices under its config's names (GPT-2's, BART's, ...);
# heads and vocabulary are not among them: equal hidden sizes keep the attention matrices' shapes, and an
# embedding's rows follow the tokenizer, which the tokenizers check compares.
SHAPE_KEYS = (
    "hidden_size", "n_embd", "d_model", "dim",
    "num_hidden_layers", "n_layer", "num_layers",
    "intermediate_size", "n_inner", "ffn_dim", "hidden_dim",
)  # fmt: skip
# What a model's modules are built from besides the shapes: transformers builds none from a zero, negative or
# non-integer count, so such a config is refused where it is read (the doctor too), not at the load.
SIZE_KEYS = (*SHAPE_KEYS, "vocab_size", "num_attention_heads", "n_head", "num_key_value_heads")
# A position table of 0 or less was read as none (no bound on a window's tokens), so the run went on to windows
# that such a model cannot embed; a table is refused as a size is.
POSITION_KEYS = ("max_position_embeddings", "n_positions")
# Beyond any released model by orders of magnitude, below what would exhaust memory before an error: the doctor
# builds the module on the meta device (a Python object per layer: 10**30 layers grew without end), and a
# tensor dimension is an int64 (the largest layer counts released are about 130, vocabularies about 260 k)
_MOST_LAYERS, _MOST_PER_SIDE = 4096, 2**31 - 1
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers")


def _check_sizes(path: Path, config: dict[str, Any]) -> None:
    for key in (*SIZE_KEYS, *POSITION_KEYS):
        value = config.get(key)
        if value is None:
            continue
        most = _MOST_LAYERS if key in _LAYER_KEYS else _MOST_PER_SIDE
        if not (type(value) is int and 0 < value <= most):
            raise UsageError(
                "E102",
                f"{path}: {key} is {json.dumps(value)[:40]}, not a whole number from 1 to {most}",
                "repair the checkpoint's config.json (copy it from the model's release)",
            )
