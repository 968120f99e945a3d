"""ModelLoader port for Hugging Face checkpoints: local directories, `hf:ORG/NAME` ids, `gguf:PATH` files
(dequantized once to a cached checkpoint, adapters/hf_gguf.py) and the demo models.

Adapters: `hf_causal` (decoder-only LMs), `hf_seqcls` (a decoder's `*ForSequenceClassification` head, for
`accuracy`), `hf_encoder` (BERT-family encoders: pooled embeddings) and `hf_mlm` (BERT-family masked LMs:
masked-token NLL). `auto` picks hf_causal for a causal model type,
hf_mlm for a checkpoint whose config names a `*ForMaskedLM` architecture, and hf_encoder otherwise.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.model import GGUFSource, LoadOptions

from . import heap, hf_demo, hf_gguf, hf_placement
from .hf_architecture import causal_model_types, read_checkpoint_config, rules_for, supported_model_types
from .hf_causal import HFCausalModel
from .hf_encoder import HFEncoderModel
from .hf_mlm import HFMaskedLMModel
from .hf_seq_classifier import HFSequenceClassifier
from .hf_tokenizer import HFTokenizer
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
_BARE_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
TOKENIZERS_KEPT = 8  # checkpoints whose tokenizer a process keeps (calibrate loads several; each holds ~12 MiB)
_TOKENIZERS: dict[tuple[str, tuple[tuple[str, int, int], ...]], HFTokenizer] = {}


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
        path, gguf = _resolve(ref)
        kind = resolve_adapter(path, options.adapter)
        module, tokenizer = _load_pretrained(path, options.dtype, kind, spread), _tokenizer_of(path)
        module = hf_placement.placed(module, spread) if spread else module.to(torch_device)
        if gguf is None:
            return _CLASSES[kind](module, tokenizer, ref=ref, batch_size=options.batch_size)
        decoder = HFSequenceClassifier if kind == "hf_seqcls" else HFCausalModel
        return decoder(module, tokenizer, ref=ref, batch_size=options.batch_size, gguf=gguf)

    def tokenizer(self, ref: str, *, adapter: str = "auto") -> HFTokenizer:
        """The tokenizer of `ref` alone (no weights read), as `load(ref).tokenizer()` gives it.

        Raises:
            UsageError: E101/E102/E103 as `load` for the reference, E104 unknown adapter or model type.
        """
        _check_choice("adapter", adapter, ADAPTERS)
        path = resolve_reference(ref)
        resolve_adapter(path, adapter)
        return _tokenizer_of(path)


def resolve_reference(ref: str) -> Path:
    """Model directory for a reference. Raises UsageError E101/E102/E103."""
    return _resolve(ref)[0]


def _resolve(ref: str) -> tuple[Path, GGUFSource | None]:
    """The model directory of a reference and, for `gguf:PATH`, the GGUF file it was dequantized from."""
    if ref.startswith(hf_gguf.GGUF_PREFIX):
        return hf_gguf.open_gguf(Path(ref.removeprefix(hf_gguf.GGUF_PREFIX)).expanduser())
    return _directory(ref), None


def _directory(ref: str) -> Path:
    if ref == hf_demo.DEMO_REF:
        return demo_model_dir()
    if ref == hf_demo.ENCODER_REF:
        return hf_demo.encoder_dir()
    if ref.startswith("demo:"):
        raise UsageError("E101", f"unknown demo model '{ref}'", f"use {' or '.join(hf_demo.DEMO_REFS)}")
    path = _hub_snapshot(ref[3:]) if ref.startswith("hf:") else Path(ref).expanduser()
    if not path.exists() and _BARE_HUB_ID.fullmatch(ref):
        path = _hub_snapshot(ref, bare=True)  # `gpt2`, `org/name`: InvarLock 0.3.7's bare ids, from the HF cache
    if not path.exists():
        raise UsageError(
            "E101", f"model path {path} does not exist", "pass an existing directory, hf:ORG/NAME or gguf:FILE"
        )
    if path.is_file() and path.suffix == ".gguf":
        raise UsageError("E102", f"{path} is a GGUF file, not a model directory", f"pass it as gguf:{path}")
    if not (path / "config.json").is_file():
        _refuse_entry_in_the_way(path / "config.json")
        raise UsageError("E102", f"{path} is not a model directory: no config.json", "point at an HF checkpoint")
    if not any((path / name).is_file() for name in _WEIGHT_FILES):
        for name in _WEIGHT_FILES:
            _refuse_entry_in_the_way(path / name)
        raise UsageError(
            "E102", f"{path} is not a model directory: no weights", "expected model.safetensors (or an index)"
        )
    return path


def _refuse_entry_in_the_way(entry: Path) -> None:
    """E102 naming `entry` when something that is not a regular file has its name (a folder, a dangling link, a
    FIFO): "no weights" would send the user looking for a file that is there."""
    if entry.is_symlink() and not entry.exists():
        kind = f"a link to {os.readlink(entry)}, which does not exist"
    elif entry.is_dir():
        kind = "a directory"
    elif entry.exists():
        kind = "not a regular file"
    else:
        return
    raise UsageError("E102", f"{entry} is {kind}", f"put the checkpoint's {entry.name} file there")


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


def _hub_snapshot(repo_id: str, *, bare: bool = False) -> Path:
    """The snapshot folder of `repo_id` in the Hugging Face hub cache (HF_HUB_CACHE / HF_HOME), downloaded
    only with INVARLOCK_ALLOW_NETWORK=1. Raises UsageError E103 when it is not there."""
    from huggingface_hub import snapshot_download

    online = os.environ.get("INVARLOCK_ALLOW_NETWORK") == "1"
    try:
        with hf_demo.quiet_transformers():
            folder = snapshot_download(
                repo_id,
                cache_dir=os.environ.get("HF_HUB_CACHE"),  # read now: huggingface_hub reads it once, at import
                local_files_only=not online,
                allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*"],
            )
    except Exception as error:  # the hub raises many types (offline, not found, gated, bad id)
        if bare:
            raise UsageError(
                "E103",
                f"model '{repo_id}' is neither a local directory nor in the Hugging Face cache "
                f"({type(error).__name__})",
                "download it once with INVARLOCK_ALLOW_NETWORK=1 (or set HF_HUB_CACHE), or pass a checkpoint directory",
            ) from None
        raise UsageError(
            "E103",
            f"hf:{repo_id} is not available offline ({type(error).__name__})",
            "download it first or set INVARLOCK_ALLOW_NETWORK=1",
        ) from None
    return Path(folder)


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

    with _as_usage_error(path), hf_demo.quiet_transformers():
        auto = getattr(transformers, _AUTO_CLASSES[adapter])
        module, info = auto.from_pretrained(
            path,
            dtype=getattr(torch, dtype),
            local_files_only=True,
            output_loading_info=True,
            ignore_mismatched_sizes=True,  # refused below, naming the weights (transformers' error says "above report")
            **(spread or {}),
        )
    _refuse_mismatched_shapes(sorted(info.get("mismatched_keys") or ()), path)
    _require_every_weight(module, sorted(info.get("missing_keys") or ()), path, adapter)
    if adapter == "hf_causal":
        _refuse_unused_weights(sorted(info.get("unexpected_keys") or ()), path)
    return module.eval()


def _tokenizer_of(path: Path) -> HFTokenizer:
    """The tokenizer of a checkpoint directory, read once per process while its files stay as they were (same
    names, sizes and modification times): a certification asks for it up to four times (the preflight's
    check of each model, then each model's load), each read about 0.5-0.9 s on the demo's. The same object
    is returned, hence the digest it took as loaded."""
    with _as_usage_error(path):  # an unreadable directory or file: the same E102 as transformers' own failures
        key = (str(path.resolve()), _tokenizer_files(path))
    if key not in _TOKENIZERS:
        from transformers import AutoTokenizer

        with _as_usage_error(path), hf_demo.quiet_transformers():
            loaded = HFTokenizer(AutoTokenizer.from_pretrained(path, local_files_only=True))
        if len(_TOKENIZERS) >= TOKENIZERS_KEPT:
            _TOKENIZERS.pop(next(iter(_TOKENIZERS)))
        _TOKENIZERS[key] = loaded
    return _TOKENIZERS[key]


def _tokenizer_files(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime_ns) of every file of the directory but the weights, which the tokenizer never reads."""
    stats = ((f.name, f.stat()) for f in sorted(path.iterdir()) if f.is_file() and not _is_weights(f.name))
    return tuple((name, st.st_size, st.st_mtime_ns) for name, st in stats)


def _is_weights(name: str) -> bool:
    return name.endswith((".safetensors", ".bin", ".pt", ".gguf"))


@contextlib.contextmanager
def _as_usage_error(path: Path) -> Iterator[None]:
    """transformers raises OSError, ValueError, safetensors errors...: one clear E102 naming the checkpoint."""
    try:
        yield
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise UsageError(
            "E102", f"{path} could not be loaded: {type(error).__name__}: {first_line}", "repair or re-export it"
        ) from None


def _require_every_weight(module: Any, missing: list[str], path: Path, adapter: str) -> None:
    """transformers initialises a weight the checkpoint lacks at random and only warns: the run would score and
    digest weights that are in no file, and no two loads would agree. Refuse that (UsageError E102), except an
    encoder's pooler, which mean pooling never uses: a checkpoint saved from a masked LM has none, so the module
    drops it rather than hold random weights."""
    pooler_only = bool(missing) and all(k.startswith("pooler.") for k in missing)
    if adapter == "hf_encoder" and pooler_only and getattr(module, "pooler", None) is not None:
        module.pooler = None
        return
    if missing:
        raise UsageError(
            "E102",
            f"{path} lacks weights its model needs: {_first_three(missing)}",
            "re-export the checkpoint with every weight (transformers would initialise the missing ones at random)",
        )


def _refuse_mismatched_shapes(mismatched: list[tuple[str, Any, Any]], path: Path) -> None:
    """A weight whose shape in the file is not the one its config.json gives the model: transformers would refuse
    with a pointer to a report it logs (and InvarLock keeps quiet), so name the weights and both shapes (E102)."""
    if mismatched:
        name, in_file, by_config = mismatched[0]
        more = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
        raise UsageError(
            "E102",
            f"{path}: weight {name} is {_shape(in_file)} in the checkpoint but {_shape(by_config)} by its "
            f"config.json{more}",
            "re-export the checkpoint with a config.json that matches its weights",
        )


def _shape(size: Any) -> str:
    return "×".join(str(int(d)) for d in size)


def _refuse_unused_weights(unexpected: list[str], path: Path) -> None:
    """A causal LM's checkpoint holding tensors its model does not use (an extra weight, more layers than its
    config's num_hidden_layers): transformers drops them and only warns, so the certificate would give the file the
    digest of another one (the weights digest is over the loaded module). Refuse that (UsageError E102). Encoder
    and masked-LM checkpoints keep heads their adapter drops on purpose; what transformers itself ignores for an
    architecture is not listed here."""
    if unexpected:
        raise UsageError(
            "E102",
            f"{path} holds weights its model does not use: {_first_three(unexpected)}",
            "re-export the checkpoint with its config (num_hidden_layers, architecture) matching its weights",
        )


def _first_three(names: list[str]) -> str:
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return f"{', '.join(names[:3])}{more}"
