"""Reading one split of a dataset with `datasets` (the `hf` provider's loader, adapters/corpus_hf.py).

Three sources: a hub dataset (`name`, `config`, `split`, `revision`) from the local `datasets` cache, the
network only with INVARLOCK_ALLOW_NETWORK=1; a `save_to_disk` folder (`path`); or data files (`path`: a
parquet, arrow, json/jsonl or csv file, a folder of such files, or a glob), read as the split named `split`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.model import CorpusInfo

from .error_text import said
from .network_switch import network_allowed

PROVIDER = "hf"
_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".json": "json", ".jsonl": "json", ".csv": "csv"}
_DISK_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
_UNSTATED_LICENCE = "not stated in the dataset's metadata"
_COMMIT = re.compile(r"[0-9a-f]{40}")


def load_split(
    *, path: str | None, name: str | None, config: str | None, split: str, revision: str | None
) -> tuple[Any, CorpusInfo]:
    """The `datasets.Dataset` of one split and the CorpusInfo describing it.

    Raises:
        UsageError: E301 when neither or both of `path`/`name` are set, the data is missing, unreadable,
            not available offline, or has no such split.
    """
    if (path is None) == (name is None):
        raise UsageError(
            "E301",
            "provider hf needs exactly one of dataset.name (a hub dataset) and dataset.path (local data)",
            "set dataset.name: ORG/NAME, or dataset.path: a save_to_disk folder or parquet/arrow/jsonl/csv files",
        )
    with offline_unless_allowed():
        if path is not None:
            dataset = _local(Path(path).expanduser(), split)
            source, read_revision = str(Path(path).expanduser()), None
        else:
            assert name is not None
            dataset, read_revision = _hub(name, config, split, revision)
            source = f"hf:{name}" + (f"/{config}" if config else "")
    info = CorpusInfo(
        provider=PROVIDER,
        split=split,
        source=source,
        licence=str(dataset.info.license or _UNSTATED_LICENCE),
        fingerprint=str(dataset._fingerprint),
        revision=read_revision,
    )
    return dataset, info


_SWITCHES = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")


@contextlib.contextmanager
def offline_unless_allowed() -> Iterator[None]:
    """`datasets` and the hub offline for the block unless INVARLOCK_ALLOW_NETWORK=1, even when they were
    imported before (they read the environment switches at import); after it, the process is as it was: the
    switches this set are removed again, and modules first imported inside it take the caller's own environment
    (an API user's later `datasets` calls, a child process and a later call allowed the network stayed offline)."""
    online = network_allowed()
    added = [name for name in _SWITCHES if not online and name not in os.environ]
    fresh = "datasets" not in sys.modules or "huggingface_hub.constants" not in sys.modules
    for name in added:
        os.environ[name] = "1"  # read when `datasets` is first imported
    try:
        import datasets
        import huggingface_hub.constants as hub
    except ImportError as exc:
        _unset(added)
        raise UsageError("E301", "provider hf needs the `datasets` package", "pip install 'invarlock[hf]'") from exc
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    # datasets reads the switch at call time under either name (HF_DATASETS_OFFLINE before datasets 3).
    names = [(datasets.config, "HF_HUB_OFFLINE"), (datasets.config, "HF_DATASETS_OFFLINE"), (hub, "HF_HUB_OFFLINE")]
    _unset(added)
    saved = [_environment_says(name) if fresh else getattr(module, name, False) for module, name in names]
    for (module, name), value in zip(names, saved, strict=True):
        setattr(module, name, value if online else True)
    try:
        yield
    finally:
        for (module, name), value in zip(names, saved, strict=True):
            setattr(module, name, value)


def _unset(names: list[str]) -> None:
    for name in names:
        os.environ.pop(name, None)


def _environment_says(name: str) -> bool:
    """Whether the caller's environment turns the switch on, as the hub reads it at import (1, ON, YES, TRUE)."""
    return os.environ.get(name, "").upper() in {"1", "ON", "YES", "TRUE"}


def _local(path: Path, split: str) -> Any:
    if path.is_dir() and any((path / marker).is_file() for marker in _DISK_MARKERS):
        return _from_disk(path, split)
    files = _data_files(path)
    builders = sorted({_BUILDERS[f.suffix] for f in files})
    if len(builders) != 1:
        raise UsageError("E301", f"{path} mixes data file types ({', '.join(builders)})", "use files of one type")
    data_files = {split: [str(f) for f in files]}
    try:
        return _read(lambda d: d.load_dataset(builders[0], data_files=data_files, split=split))
    except UsageError as error:
        if "corresponds to no data" in error.message:  # how `datasets` says the files hold no rows
            raise UsageError("E304", f"dataset {path} has no rows", "point dataset.path at non-empty data") from None
        raise


def _data_files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix in _BUILDERS and p.is_file())
    elif path.is_file():
        found = [path] if path.suffix in _BUILDERS else []
    else:
        found = sorted(p for p in map(Path, glob.glob(str(path))) if p.suffix in _BUILDERS and p.is_file())
    if not found:
        raise UsageError(
            "E301",
            f"no dataset at {path}: not a save_to_disk folder, nor parquet/arrow/json/jsonl/csv files",
            "point dataset.path at a save_to_disk folder or at data files",
        )
    return found


def _from_disk(path: Path, split: str) -> Any:
    import datasets

    state = path / "state.json"
    if state.is_file() and json.loads(state.read_text(encoding="utf-8")).get("_data_files") == []:
        raise UsageError("E304", f"dataset {path} has no rows", "point dataset.path at a non-empty dataset")
    loaded = _read(lambda d: d.load_from_disk(str(path)))
    if isinstance(loaded, datasets.Dataset):
        saved_split = loaded.split
        if saved_split is not None and str(saved_split) != split:
            raise UsageError("E301", f"{path} holds split {saved_split}, not {split!r}", f"set split: {saved_split}")
        return loaded
    if split not in loaded:
        raise UsageError("E301", f"{path} has no split {split!r}", f"use one of: {', '.join(loaded)}")
    return loaded[split]


def _hub(name: str, config: str | None, split: str, revision: str | None) -> tuple[Any, str]:
    """The split and the commit it was read at: the builder's hash, which for a hub dataset is the commit of
    the copy read (the cache folder's name offline)."""
    import datasets

    try:
        builder = datasets.load_dataset_builder(name, config, revision=revision)
        builder.download_and_prepare()
        dataset, commit = builder.as_dataset(split=split), str(builder.hash)
    except Exception as error:  # datasets raises many unrelated types for "not cached", "offline", "no split"
        online = network_allowed()
        where = "" if online else " offline"
        raise UsageError(
            "E301",
            f"hub dataset {name}{'/' + config if config else ''} ({split}) is not available{where}: {said(error)}",
            "set INVARLOCK_ALLOW_NETWORK=1 to download it, or save it with save_to_disk and set dataset.path",
        ) from None
    if revision is not None and _COMMIT.fullmatch(revision) and revision != commit:
        raise UsageError(
            "E301",
            f"hub dataset {name}: revision {revision} was asked for, the cached copy is {commit}",
            "set INVARLOCK_ALLOW_NETWORK=1 to fetch that revision, or ask for the cached one",
        )
    return dataset, commit


def _read(load: Any) -> Any:
    import datasets

    try:
        return load(datasets)
    except Exception as error:  # pyarrow, json and datasets errors of unreadable data
        raise UsageError("E301", f"the dataset cannot be read: {said(error)}", "check dataset.path") from None
