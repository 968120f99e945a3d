"""GGUF files (`gguf:PATH` refs): dequantized once with transformers' GGUF support into a float32 safetensors
checkpoint cached by the file's sha256, and described by a GGUFSource (file digest, tensor types, metadata).

The cache folder is `<cache root>/models/gguf-<first 16 hex of the sha256>/`; it also holds the file's
GGUFSource (`invarlock-gguf.json`), so a later load reads neither the tensors nor the metadata again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
from invarlock.domain.errors import UsageError
from invarlock.domain.model import GGUFSource

from .cache_dir import cache_root
from .cache_files import STAGING_ABANDONED_S, file_sha256
from .hf_quiet import quiet_transformers

GGUF_PREFIX = "gguf:"
SOURCE_FILE = "invarlock-gguf.json"
_HINT = "pass gguf:PATH to a GGUF model file (a llama.cpp model transformers can read)"


def open_gguf(path: Path) -> tuple[Path, GGUFSource]:
    """The dequantized float32 checkpoint of the GGUF file at `path` (converted on first use) and its source.

    Raises:
        UsageError: E101 the file does not exist; E102 it is not a GGUF file transformers can load.
    """
    if not path.is_file():
        raise UsageError("E101", f"GGUF file {path} does not exist", _HINT)
    sha = file_sha256(path)
    target = cache_root() / "models" / f"gguf-{sha[:16]}"
    if not (target / SOURCE_FILE).is_file():
        _convert_atomically(path, target)
    source = msgspec.json.decode((target / SOURCE_FILE).read_bytes(), type=GGUFSource)
    if source.file_sha256 != sha:
        raise UsageError("E102", f"the cached conversion {target} is of another file", f"delete {target}")
    return target, source


def describe(path: Path) -> GGUFSource:
    """The GGUFSource of a GGUF file: its sha256, tensor types (count and per-tensor digest), metadata digest."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    types = sorted((t.name, t.tensor_type.name) for t in reader.tensors)
    listing = "".join(f"{name}\t{kind}\n" for name, kind in types)
    metadata = {
        key: ["/".join(t.name for t in field.types), _plain(field.contents())]
        for key, field in reader.fields.items()
        if not key.startswith("GGUF.")
    }
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return GGUFSource(
        file_sha256=file_sha256(path),
        tensor_types=dict(sorted(Counter(kind for _, kind in types).items())),
        tensor_types_sha256=hashlib.sha256(listing.encode()).hexdigest(),
        metadata_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def _convert_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _convert(source, staging)
        (staging / SOURCE_FILE).write_bytes(msgspec.json.encode(describe(source)))
        staging.chmod(0o755)
        os.replace(staging, target)
    except OSError:
        if not (target / SOURCE_FILE).is_file():  # a concurrent writer did not win either
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_staging(target: Path) -> None:
    # A killed conversion leaves its hidden staging folder; one untouched for an hour is abandoned.
    for staging in target.parent.glob(f".{target.name}.*"):
        if time.time() - staging.stat().st_mtime > STAGING_ABANDONED_S:
            shutil.rmtree(staging, ignore_errors=True)


def _convert(source: Path, out: Path) -> None:
    """Dequantize with transformers (exact), then save a plain float32 model: a GGUF-loaded model refuses
    save_pretrained, so its state is copied into one built from the same config."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # The GGUF reader draws a plain tqdm bar that transformers' switches do not reach.
    try:
        with quiet_transformers(), contextlib.redirect_stderr(io.StringIO()):
            loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
            config = loaded.config
            if hasattr(config, "quantization_config"):
                delattr(config, "quantization_config")
            plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            plain.load_state_dict(loaded.state_dict())
            plain.save_pretrained(out, safe_serialization=True)
            tokenizer.save_pretrained(out)
    except Exception as error:  # the GGUF reader and transformers raise many types for a file they cannot read
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise UsageError(
            "E102", f"{source} could not be loaded as GGUF: {type(error).__name__}: {first_line}", _HINT
        ) from None
