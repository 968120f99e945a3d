"""Where a model reference points: a local checkpoint directory, `hf:ORG/NAME` or a bare hub id in the Hugging
Face cache, a `gguf:PATH` file (dequantized once to a cached checkpoint) or a demo model."""

from __future__ import annotations

import os
import re
from pathlib import Path

from invarlock.domain.errors import UsageError
from invarlock.domain.model import GGUFSource

from . import hf_demo, hf_gguf
from .network_switch import network_allowed
from .node_kind import odd_node

_BARE_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def resolve_reference(ref: str) -> Path:
    """Model directory for a reference. Raises UsageError E101/E102/E103."""
    return resolve(ref)[0]


def resolve(ref: str) -> tuple[Path, GGUFSource | None]:
    """The model directory of a reference and, for `gguf:PATH`, the GGUF file it was dequantized from."""
    if ref.startswith(hf_gguf.GGUF_PREFIX):
        return hf_gguf.open_gguf(Path(ref.removeprefix(hf_gguf.GGUF_PREFIX)).expanduser())
    return _directory(ref), None


def _directory(ref: str) -> Path:
    if ref == hf_demo.DEMO_REF:
        return hf_demo.demo_model_dir()
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
    if path.is_file():
        raise UsageError("E102", f"{path} is a file, not a model directory", f"pass the folder it is in: {path.parent}")
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
    kind = odd_node(entry)
    if kind is not None:
        raise UsageError("E102", f"{entry} is {kind}", f"put the checkpoint's {entry.name} file there")


def _require_repo_id(repo_id: str) -> None:
    """E101 for an `hf:` reference that no hub repository can have (empty, a path, a space): it was reported as
    "not available offline", with a hint to download what cannot exist."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise UsageError(
            "E101",
            f"hf:{repo_id} is not a Hugging Face model id",
            "write hf:NAME or hf:ORG/NAME (letters, digits, '-', '_' and '.', at most 96 characters each)",
        ) from None


def _hub_snapshot(repo_id: str, *, bare: bool = False) -> Path:
    """The snapshot folder of `repo_id` in the Hugging Face hub cache (HF_HUB_CACHE / HF_HOME), downloaded
    only with INVARLOCK_ALLOW_NETWORK=1. Raises UsageError E103 when it is not there."""
    from huggingface_hub import snapshot_download

    if not bare:
        _require_repo_id(repo_id)
    online = network_allowed()
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
