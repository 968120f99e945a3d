"""The demo model exported to ONNX (fp32) and quantized by onnxruntime (int8), once per machine and versions.

Exported with adapters/onnx_export.py, as docs/user-guide.md (ONNX models) tells a user to, into the cache
next to the converted demo checkpoint (never into the repository), keyed by that checkpoint, the torch, onnx and
onnxruntime versions and the export code. A half-written export is never used: each is written to a staging
folder and renamed into place, one process at a time (a second waits for the first's). The first export costs
about a minute (two on a loaded 2-core machine), the int8 copy ~10 s."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class OnnxDemo:
    """The two exported directories (each: model.onnx, model.onnx.data, config.json, tokenizer files)."""

    fp32: Path
    int8: Path


def require_onnx_extra() -> None:
    """The onnx extra is part of `make install-dev`: a missing package is an error here, not a skip."""
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    import onnxscript  # noqa: F401


@functools.cache
def onnx_demo() -> OnnxDemo:
    """Export (or reuse) the demo model's fp32 and int8 ONNX directories."""
    require_onnx_extra()
    import onnx
    import onnxruntime
    import torch
    from invarlock.adapters import onnx_export
    from invarlock.adapters.hf_demo import cache_root, demo_model_dir
    from invarlock.adapters.onnx_export import export_causal_lm, quantize_int8

    source = demo_model_dir()
    code = hashlib.sha256(Path(onnx_export.__file__).read_bytes()).hexdigest()[:12]
    key = f"{source.name}-torch{torch.__version__}-onnx{onnx.__version__}-ort{onnxruntime.__version__}-{code}"
    root = cache_root() / "onnx" / key
    fp32 = _once(root / "fp32", lambda out: export_causal_lm(source, out))
    int8 = _once(root / "int8", lambda out: quantize_int8(fp32, out))
    return OnnxDemo(fp32=fp32, int8=int8)


def _once(target: Path, write: Callable[[Path], object]) -> Path:
    if (target / "model.onnx").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two test workers need the export at the same time on a fresh machine: the second waits for the first's.
    with open(target.parent / f".lock-{target.name}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "model.onnx").is_file():
            _write_atomically(target, write)
    return target


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write(staging)
        os.replace(staging, target)
    except OSError:
        if not (target / "model.onnx").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@pytest.fixture(scope="session")
def onnx_dirs() -> OnnxDemo:
    """The demo model's ONNX exports, made once per test session (and machine)."""
    return onnx_demo()
