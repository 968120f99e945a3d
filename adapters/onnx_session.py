"""onnxruntime sessions of an in-memory ONNX model: the execution provider, and sessions with extra outputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError

from .error_text import first_line

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def provider_for(device: str) -> str:
    """The execution provider of `auto|cpu|cuda` (auto: CUDA when onnxruntime has it, else CPU).

    Raises:
        UsageError: E104 for another device or a CUDA provider this onnxruntime lacks.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "auto":
        return PROVIDERS["cuda"] if PROVIDERS["cuda"] in available else PROVIDERS["cpu"]
    if device not in PROVIDERS:
        raise UsageError("E104", f"the onnx adapter runs on cpu or cuda, not '{device}'", "use --device auto or cpu")
    if PROVIDERS[device] not in available:
        raise UsageError(
            "E104", f"onnxruntime here has no {PROVIDERS[device]}", "use --device cpu or install onnxruntime-gpu"
        )
    return PROVIDERS[device]


def device_of(provider: str) -> str:
    """`cpu` or `cuda`, the device a provider runs on."""
    return next(device for device, name in PROVIDERS.items() if name == provider)


def runtime_name(provider: str) -> str:
    """`onnxruntime <version> <provider>`, as the model identity records it."""
    import onnxruntime as ort

    return f"onnxruntime {ort.__version__} {provider}"


def open_session(proto: Any, provider: str, *, path: Path | None = None, outputs: Sequence[str] = ()) -> Any:
    """An InferenceSession of `proto` (from `path` when given: the file as it is on disk) that also returns the
    graph values `outputs`. The extra outputs are added to the graph for the serialization and removed after."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if path is not None and not outputs:
        return _session(ort, str(path), options, provider, path)
    graph_outputs = proto.graph.output
    kept = len(graph_outputs)
    graph_outputs.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs)
    try:
        serialized = proto.SerializeToString()
    except ValueError as error:  # protobuf refuses messages over 2 GB
        raise UsageError(
            "E104", f"this ONNX model is too large to run edited or tapped in memory ({error})", "use a model < 2 GB"
        ) from None
    finally:
        del graph_outputs[kept:]
    return _session(ort, serialized, options, provider, path)


def _session(ort: Any, model: str | bytes, options: Any, provider: str, path: Path | None) -> Any:
    """onnxruntime's session, or E102 when onnxruntime refuses the graph (an opset or IR version it does not know,
    a type error): that was E999, and the run was left incomplete."""
    try:
        return ort.InferenceSession(model, options, providers=[provider])
    except Exception as error:
        if not type(error).__module__.startswith("onnxruntime"):
            raise
        said = first_line(error)
        raise UsageError(
            "E102",
            f"onnxruntime cannot load {path or 'the ONNX model'}: {said}",
            "re-export the model with an opset and IR version this onnxruntime supports (docs/user-guide.md, ONNX "
            "models)",
        ) from None
