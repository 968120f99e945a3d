"""GGUF files (`gguf:PATH` refs): dequantized once with transformers' GGUF support into a float32 safetensors
checkpoint cached by the file's sha256, and described by a GGUFSource (file digest, tensor types, metadata).

The cache folder is `<cache root>/models/gguf-<first 16 hex of the sha256>/`; it also holds the file's
GGUFSource (`invarlock-gguf.json`), so a later load reads neither the tensors nor the metadata again, and the record
of its own files (gguf_cache_check.py), so a later load takes only the files the conversion wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from invarlock.domain.errors import UsageError
from invarlock.domain.model import GGUFSource

from .cache_dir import cache_root, require_writable_cache
from .cache_files import STAGING_ABANDONED_S, file_sha256, fresh_sha256
from .error_text import said
from .gguf_cache_check import FILES_FILE, check_files, record_files
from .gguf_tensor_count import refuse_unused_tensors as _refuse_unused_tensors
from .gguf_texts import check_texts
from .hf_quiet import quiet_transformers
from .node_kind import odd_node

GGUF_PREFIX = "gguf:"
SOURCE_FILE = "invarlock-gguf.json"
OWNER_FILE = ".owner"  # locked by the process converting into a staging folder
_SIDECARS = (SOURCE_FILE, FILES_FILE)  # written beside the checkpoint, not part of it
_HINT = "pass gguf:PATH to a GGUF model file (a llama.cpp model transformers can read)"


def open_gguf(path: Path) -> tuple[Path, GGUFSource]:
    """The dequantized float32 checkpoint of the GGUF file at `path` (converted on first use) and its source.

    Raises:
        UsageError: E101 no regular file is there; E102 it is not a GGUF file transformers can load.
    """
    if not path.is_file():
        raise UsageError("E101", _no_gguf_file(path), _HINT)
    sha = file_sha256(path)
    target = cache_root() / "models" / f"gguf-{sha[:16]}"
    remove_abandoned_staging(target)
    if not (target / SOURCE_FILE).is_file():
        require_writable_cache(target.parent, f"the conversion of {path.name}")
        with _converting(target):
            if not (target / SOURCE_FILE).is_file():  # else another process converted it while this one waited
                _convert_atomically(path, target)
    try:
        source = msgspec.json.decode((target / SOURCE_FILE).read_bytes(), type=GGUFSource)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:  # check_files would name it: it runs after
        said = f"the cached conversion {target} was changed: {SOURCE_FILE}: {exc}"
        raise UsageError("E102", said, f"delete {target}") from None
    if source.file_sha256 != sha:
        raise UsageError("E102", f"the cached conversion {target} is of another file", f"delete {target}")
    check_files(target, _SIDECARS)
    return target, source


def _no_gguf_file(path: Path) -> str:
    """Why `path` names no GGUF file (`gguf:` with no path reads as the current folder)."""
    if path == Path():
        return "gguf: is followed by no file path"
    try:
        kind = odd_node(path)
    except OSError as exc:  # a folder on the way that cannot be searched
        return f"GGUF file {path} cannot be read: {exc.strerror}"
    return f"GGUF file {path} " + (f"is {kind}, not a file" if kind else "does not exist")


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
    check_texts(path, {key: value for key, (_, value) in metadata.items()}, _HINT)
    _check_blocks(path, reader)
    try:
        canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN or an infinity: no model is built from it, and no digest can state it
        key = next(k for k, (_, v) in sorted(metadata.items()) if not _finite(v))
        raise UsageError("E102", f"{path}: metadata {key} is not a finite number", _HINT) from None
    return GGUFSource(
        file_sha256=file_sha256(path),
        tensor_types=dict(sorted(Counter(kind for _, kind in types).items())),
        tensor_types_sha256=hashlib.sha256(listing.encode()).hexdigest(),
        metadata_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _finite(value: Any) -> bool:
    if isinstance(value, list):
        return all(map(_finite, value))
    return not isinstance(value, float) or math.isfinite(value)


def _check_blocks(path: Path, reader: Any) -> None:
    """The file's `blk.N.` tensors are those of blocks 0 to `<architecture>.block_count` - 1: transformers builds
    that many blocks and drops the tensors of any other (a file whose count was lowered by one was certified
    without its last block, under the whole file's digest) or leaves a block without its tensors."""
    architecture = reader.fields.get("general.architecture")
    stated = reader.fields.get(f"{_plain(architecture.contents()) if architecture else ''}.block_count")
    if stated is None:
        return
    count = _plain(stated.contents())
    if isinstance(count, list) and len(count) == 1:  # transformers reads a one-element array as its element
        count = count[0]
    if type(count) is not int:
        raise UsageError("E102", f"{path}: its metadata's block count is {str(count)[:40]}, not a whole number", _HINT)
    held = {int(part) for t in reader.tensors if (part := _block_of(t.name)) is not None}
    if held != set(range(count)):
        extra, missing = sorted(held - set(range(count))), sorted(set(range(count)) - held)
        said = f"holds tensors of blocks {extra[:5]}" if extra else f"holds no tensors of blocks {missing[:5]}"
        raise UsageError("E102", f"{path}: {said}, yet its metadata states {count} blocks", _HINT)


def _block_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "blk" and parts[1].isdigit() else None


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def _convert_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    owner = _own(staging)
    try:
        described = _convert(source, staging)
        read = described.file_sha256
        if fresh_sha256(source) != read or not target.name.endswith(read[:16]):  # transformers read it twice more
            said = f"{source} changed while it was converted (another program wrote it)"
            raise UsageError("E102", said, "run the command again once nothing writes the file")
        (staging / SOURCE_FILE).write_bytes(msgspec.json.encode(described))
        record_files(staging, _SIDECARS)
        staging.chmod(0o755)
        (staging / OWNER_FILE).unlink()
        if not (target / SOURCE_FILE).is_file():  # a folder without its record (files removed by hand) is no cache
            shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    except OSError:
        if not (target / SOURCE_FILE).is_file():  # a concurrent writer did not win either
            raise
    finally:
        os.close(owner)
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _converting(target: Path) -> Iterator[None]:
    """One conversion of a file at a time: a second process waits for the first (about 20 s for the demo) instead
    of converting the same 0.5 GB again beside it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.parent / f".lock-{target.name}"
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        with contextlib.suppress(OSError):  # a file system without flock: both convert, the rename keeps one
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        # Removed while held, so nothing is left beside the cache: a process already waiting on it re-checks the
        # folder, and one arriving later finds the folder (or, after a failure, converts under a new lock file).
        lock.unlink(missing_ok=True)
        os.close(fd)


def _own(staging: Path) -> int:
    """An exclusive flock on the staging folder's owner file, held while this process converts into it."""
    fd = os.open(staging / OWNER_FILE, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with contextlib.suppress(OSError):  # a file system without flock: the folder then goes by its age alone
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def remove_abandoned_staging(target: Path) -> None:
    """Remove the staging folders a killed conversion left beside `target` (each holds 0.5 GB for the demo).

    A folder whose owner file is not locked was left by a process that died: it goes at once. One without an
    owner file (just made, or left by a release before the owner file) goes once untouched for an hour.
    """
    for staging in target.parent.glob(f".{target.name}.*"):
        with contextlib.suppress(OSError):
            if _abandoned(staging):
                shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        if _unlocked(target.parent / f".lock-{target.name}") is True:  # the conversion lock of a killed process
            (target.parent / f".lock-{target.name}").unlink()


def _abandoned(staging: Path) -> bool:
    unlocked = _unlocked(staging / OWNER_FILE) if (staging / OWNER_FILE).exists() else None
    if unlocked is None:  # no owner file, or no flock on this file system: judged by its age
        return time.time() - staging.stat().st_mtime > STAGING_ABANDONED_S
    return unlocked


def _unlocked(path: Path) -> bool | None:
    """Whether no process holds the flock of the file at `path`; None when the file system has no flock
    (FileNotFoundError when there is no such file)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    finally:
        os.close(fd)  # also ends a lock just taken: what it guards is removed next
    return True


def _convert(source: Path, out: Path) -> GGUFSource:
    """Dequantize with transformers (exact), then save a plain float32 model: a GGUF-loaded model refuses
    save_pretrained, so its state is copied into one built from the same config. Returns the file's description,
    taken first: it refuses what transformers would load without a word."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # The GGUF reader draws a plain tqdm bar that transformers' switches do not reach.
    try:
        described = describe(source)
        with quiet_transformers(), contextlib.redirect_stderr(io.StringIO()):
            loaded, loading = AutoModelForCausalLM.from_pretrained(
                source.parent, gguf_file=source.name, dtype=torch.float32, output_loading_info=True
            )
            _refuse_missing_weights(source, loading)
            tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
            config = loaded.config
            if hasattr(config, "quantization_config"):
                delattr(config, "quantization_config")
            plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            plain.load_state_dict(loaded.state_dict())
            _refuse_unused_tensors(source, sum(p.numel() for p in plain.parameters()), _HINT)
            plain.save_pretrained(out, safe_serialization=True)
            tokenizer.save_pretrained(out)
        return described
    except UsageError:
        raise
    except Exception as error:  # the GGUF reader and transformers raise many types for a file they cannot read
        raise UsageError("E102", f"{source} could not be loaded as GGUF: {said(error)}", _HINT) from None


def _refuse_missing_weights(path: Path, loading: dict[str, Any]) -> None:
    """E102 when transformers built a weight the file did not give (it initializes it: a block's norm renamed in
    the file was certified as all ones, the regression hunt) or could not load one as stated."""
    problems = [*loading.get("missing_keys", ()), *loading.get("mismatched_keys", ()), *loading.get("error_msgs", ())]
    if problems:
        named = ", ".join(map(str, problems[:3]))
        said = f"{path}: transformers finds no tensor in it for {len(problems)} weights of its model ({named})"
        raise UsageError("E102", f"{said}: a tensor renamed, missing or of another shape", _HINT)
