"""What the run executed on: interpreter, platform, CPU, numpy/scipy and (when present) torch/transformers
versions, the BLAS threads of the weight guards' measurements and the logit-row kernel in use."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .cpu_identity import cpu_identity
from .logit_rows import KERNEL
from .measurement_threads import GUARD_BLAS_THREADS


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def runtime_environment() -> dict[str, str]:
    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "cpu_count": str(os.cpu_count()),
        "cpu": cpu_identity(),  # model and kernel-selecting instruction sets: the kernels torch and BLAS pick
        "guard_blas_threads": str(GUARD_BLAS_THREADS),  # what cli/bootstrap.py's ThreadMeasurementPool pins
        # which implementation reduced CPU logits; both give the same bits (logit_rows.py), so no build key
        "logit_rows": KERNEL,
    }
    if _version("onnxruntime") != "absent":  # the onnx extra: the runtime of ONNX models (identity.runtime)
        env["onnxruntime"] = _version("onnxruntime")
    torch = _torch()
    if torch is not None:
        env["torch_threads"] = str(torch.get_num_threads())
    return env


def _torch() -> Any:
    """torch when it is installed, imported here if nothing imported it yet: the environment is recorded before
    the device probe imports it, and a plugin model may never, so reading only `sys.modules` recorded
    `torch_threads` or not by what the process happened to import before the run (a forward key of the audit)."""
    try:
        import torch
    except ImportError:  # an install without the hf extra
        return None
    return torch
