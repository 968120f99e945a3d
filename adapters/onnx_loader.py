"""ModelLoader port for ONNX causal LMs: a directory with `model.onnx` (+ external data), the HF `config.json`
and the HF tokenizer files, as adapters/onnx_export.py writes it (or optimum, or any dynamo export).

onnxruntime and onnx are imported only when a model or tokenizer is loaded (`pip install 'invarlock[onnx]'`),
so `is_onnx_reference` serves the loader routing without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import PPL_CAUSAL
from invarlock.domain.model import LoadOptions

from .error_text import said
from .hf_architecture import causal_model_types, read_checkpoint_config, rules_for
from .hf_tokenizer import HFTokenizer, refuse_empty

MODEL_FILE = "model.onnx"
ADAPTER = "onnx"
DEFAULTS = LoadOptions(adapter=ADAPTER)


def is_onnx_reference(ref: str) -> bool:
    """Whether `ref` names an ONNX model: a directory holding `model.onnx`, or a `.onnx` file."""
    path = Path(ref).expanduser()
    return (path / MODEL_FILE).is_file() or (path.suffix == ".onnx" and path.is_file())


class OnnxModelLoader:
    """Loads ONNX causal LMs offline for scoring with onnxruntime (CPU, or CUDA when available)."""

    def load(self, ref: str, options: LoadOptions = DEFAULTS) -> Any:
        """Load `ref` (a directory with model.onnx, or the model.onnx file) with its weights in memory.

        Raises:
            UsageError: E101 missing path, E102 not an ONNX model directory (no model.onnx, config.json or
                tokenizer; unreadable), E104 a device map, a dtype other than float32 (the graph fixes its
                dtypes), an unavailable device, an unsupported model_type, or a model that is not a causal LM.
        """
        from .onnx_causal import OnnxCausalModel
        from .onnx_session import device_of, runtime_name

        provider = self.check_options(ref, options)
        directory = model_directory(ref)
        source = _source(directory)
        return OnnxCausalModel(
            source,
            ref=ref,
            provider=provider,
            device=device_of(provider),
            runtime=runtime_name(provider),
            batch_size=options.batch_size,
        )

    def check_options(self, ref: str, options: LoadOptions) -> str:
        """ports.loader.OptionsCheck: UsageError E104 for a device map, a dtype other than float32 (the graph fixes
        its dtypes) or a device this onnxruntime cannot run on; else the execution provider the load uses."""
        from .onnx_session import provider_for

        if options.placement is not None:
            raise UsageError("E104", f"{ref}: the onnx adapter has no device map", "leave model.device_map out")
        if options.dtype != "float32":
            raise UsageError(
                "E104",
                f"the onnx adapter runs the graph's own dtypes, not '{options.dtype}'",
                "use float32 (--dtype or model.dtype)",
            )
        return provider_for(options.device)

    def tokenizer(self, ref: str, *, adapter: str = ADAPTER) -> HFTokenizer:
        """The tokenizer next to `model.onnx` (no weights read). Raises the UsageErrors of `load`."""
        return _tokenizer(model_directory(ref))

    def scored_kinds(self, ref: str, *, adapter: str = ADAPTER) -> tuple[str, tuple[str, ...]]:
        """ports.loader.ScoredKinds: causal token NLL only (labelled examples are refused when scored). Raises the
        UsageErrors of `tokenizer` for a reference that is no ONNX model directory."""
        model_directory(ref)
        return ADAPTER, (PPL_CAUSAL.kind,)


def model_directory(ref: str) -> Path:
    """The directory of an ONNX model reference. Raises UsageError E101/E102."""
    path = Path(ref).expanduser()
    if not path.exists():
        raise UsageError("E101", f"model path {path} does not exist", "pass a directory holding model.onnx")
    if path.is_file() and path.suffix == ".onnx" and path.name != MODEL_FILE:  # the folder's model.onnx was read
        raise UsageError(
            "E102",
            f"{path}: an ONNX model is read from its folder's {MODEL_FILE}, not from a file named {path.name}",
            f"name the folder, or put this graph in a folder of its own as {MODEL_FILE} beside its config.json "
            "and tokenizer",
        )
    directory = path.parent if path.is_file() and path.suffix == ".onnx" else path
    if not (directory / MODEL_FILE).is_file():
        raise UsageError(
            "E102", f"{directory} holds no {MODEL_FILE}", "export the model (docs/user-guide.md, ONNX models)"
        )
    if not (directory / "config.json").is_file():
        raise UsageError(
            "E102", f"{directory} has no config.json next to {MODEL_FILE}", "copy the HF checkpoint's config.json there"
        )
    return directory


def _source(directory: Path) -> Any:
    import onnx

    from .onnx_graph import map_weights
    from .onnx_signature import check_graph
    from .onnx_weights import OnnxSource, data_files, read_files

    config = read_checkpoint_config(directory)
    rules = rules_for(str(config.get("model_type")))
    if not rules.causal:
        raise UsageError(
            "E104",
            f"{directory}: the onnx adapter runs causal LMs, not '{config.get('model_type')}'",
            f"export a causal LM ({', '.join(causal_model_types())}), or certify this model from its HF checkpoint "
            "(--adapter auto)",
        )
    try:
        proto = onnx.load(str(directory / MODEL_FILE), load_external_data=False)
        files = read_files(directory, data_files(proto))  # before the data are read: one written then differs
        onnx.load_external_data_for_model(proto, str(directory))
    except Exception as error:  # onnx raises DecodeError, OSError, ValueError...
        raise UsageError(
            "E102", f"{directory / MODEL_FILE} could not be read: {said(error, 400)}", "repair or re-export it"
        ) from None
    check_graph(directory / MODEL_FILE, proto.graph)
    architectures = config.get("architectures") or ["CausalLM"]
    tokenizer = _tokenizer(directory)
    return OnnxSource(
        directory=directory,
        proto=proto,
        weights=map_weights(proto.graph),
        tokenizer=tokenizer,
        rules=rules,
        architecture=f"{architectures[0]} (onnx)",
        config_sha256=_config_sha256(directory),
        vocab_size=config.get("vocab_size"),  # a whole number from 1 where stated (read_checkpoint_config)
        tokens=len(tokenizer.inner),
        files=files,
    )


def _config_sha256(directory: Path) -> str:
    """The config digest the HF adapter gives the same config.json (so the invariants guard compares them)."""
    from transformers import AutoConfig

    from .hf_demo import quiet_transformers
    from .hf_fingerprint import config_sha256

    with quiet_transformers():
        return config_sha256(AutoConfig.from_pretrained(directory, local_files_only=True))


def _tokenizer(directory: Path) -> HFTokenizer:
    from transformers import AutoTokenizer

    from .hf_demo import quiet_transformers

    try:
        with quiet_transformers():
            tokenizer = HFTokenizer(AutoTokenizer.from_pretrained(directory, local_files_only=True))
    except Exception as error:  # transformers raises OSError, ValueError, ...
        raise UsageError(
            "E102",
            f"{directory}: no tokenizer next to {MODEL_FILE} ({type(error).__name__})",
            "copy the HF tokenizer files there",
        ) from None
    return refuse_empty(tokenizer, directory)
