"""What the run executed on: interpreter, platform, CPU, numpy/scipy and (when present) torch/transformers
versions, the GPUs and CUDA build where CUDA is available, the BLAS threads of the weight guards' measurements and
the logit-row kernel in use."""

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
        env.update(_gpus(torch))
    return env


def _gpus(torch: Any) -> dict[str, str]:
    """The GPUs this process sees (name and compute capability of each, in index order) and the CUDA and cuDNN
    builds: the kernels a GPU's BLAS picks depend on them, and the baseline scoring key covers the environment
    (two runs on different cards of one CPU type and image got one key). Nothing on a machine without CUDA."""
    if not torch.cuda.is_available():
        return {}
    cards = []
    for index in range(torch.cuda.device_count()):
        major, minor = torch.cuda.get_device_capability(index)
        cards.append(f"{torch.cuda.get_device_name(index)} (sm_{major}{minor})")
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"gpus": "; ".join(cards), "cuda": str(torch.version.cuda), "cudnn": str(cudnn)}


def _torch() -> Any:
    """torch when it is installed, imported here if nothing imported it yet: the environment is recorded before
    the device probe imports it, and a plugin model may never, so reading only `sys.modules` recorded
    `torch_threads` or not by what the process happened to import before the run (a forward key of the audit)."""
    try:
        import torch
    except ImportError:  # an install without the hf extra
        return None
    return torch
