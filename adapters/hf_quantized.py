"""A pre-quantized checkpoint (config.json `quantization_config`: GPTQ, AWQ, bitsandbytes, ...) is loaded by
transformers only where its quantization's packages and device are: asked before any weights are read, as
`from_pretrained` asks it, so a subject that cannot load here stops at the preflight instead of after the
baseline's whole pass (one model at a time), and the doctor finds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError

from .error_text import first_line
from .hf_quiet import quiet_transformers

_DEQUANTIZED = "or certify a dequantized copy of the checkpoint (its weights saved in float32 or float16)"


def check_quantized_environment(directory: Path, config: dict[str, Any]) -> None:
    """Nothing for a checkpoint without `quantization_config` (or one transformers skips, with its own warning);
    otherwise transformers' quantizer for it checks this machine as `from_pretrained` would (no weights read).

    Raises:
        UsageError: E105 when a package the quantization needs is missing, E104 when it cannot run on this
            machine (a GPU it needs, a version), E102 when config.json's quantization_config is not one
            transformers reads.
    """
    spec = config.get("quantization_config")
    if spec is None:
        return
    where = directory / "config.json"
    if not isinstance(spec, dict):
        raise _unread(where, f"is {type(spec).__name__}, not a mapping")
    method = spec.get("quant_method", "?")
    from transformers.quantizers.auto import AutoHfQuantizer

    with quiet_transformers():
        try:
            if not AutoHfQuantizer.supports_quant_method(spec):
                return
            quantizer = AutoHfQuantizer.from_config(spec, pre_quantized=True)
        except ImportError as exc:  # a quantizer that imports its package when made (GPTQ: optimum)
            raise _missing(directory, method, exc) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _unread(where, f"({method}) is not one transformers reads: {first_line(exc, 300)}") from None
        try:
            quantizer.validate_environment(device_map=None, weights_only=True)
        except ImportError as exc:
            raise _missing(directory, method, exc) from None
        except (RuntimeError, ValueError) as exc:
            raise UsageError(
                "E104",
                f"{directory} is {method}-quantized, and transformers cannot load it on this machine: "
                f"{first_line(exc, 300)}",
                f"run on a machine its quantization supports, {_DEQUANTIZED}",
            ) from None


def _missing(directory: Path, method: str, exc: ImportError) -> UsageError:
    return UsageError(
        "E105",
        f"{directory} is {method}-quantized (config.json quantization_config), and loading it needs a package this "
        f"environment lacks: {first_line(exc, 300)}",
        f"install what it names, {_DEQUANTIZED}",
    )


def _unread(where: Path, problem: str) -> UsageError:
    return UsageError(
        "E102",
        f"{where}: quantization_config {problem}",
        "repair it from the quantizer's output, or re-export the checkpoint",
    )
