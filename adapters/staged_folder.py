"""A folder written whole or not at all: an export is written into a hidden staging folder and moved into place
only when it is complete, so Ctrl-C, a full disk or a failed save never leaves a half-written checkpoint that a
later `--subject` or `verify --subject` would load."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from invarlock.domain.errors import UsageError


@contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """Yield a fresh hidden folder to write into; on success its files are moved into `target` (the folder
    itself is renamed into place when `target` is missing, each file is an atomic rename into an existing one);
    on any error or interrupt the staging folder is removed and `target` is as it was. The staging folder is
    in `target` when it exists, else beside it: where the pre-run probe (folder_probe) found a file can be
    written."""
    out = Path(target)
    existed = out.is_dir()
    # a short name: `.{name}.partial-{pid}` went past NAME_MAX for a folder name of about 241-255 bytes
    staging = (out if existed else out.parent) / f".invarlock-partial-{os.getpid()}"
    try:
        if not existed:
            out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        yield staging
        if existed:
            _move_files(staging, out)
        else:
            os.replace(staging, out)
    except OSError as exc:  # a file in the way, a full disk: it was E999, after the whole run
        said = f"cannot write the checkpoint to '{out}': {exc.strerror or type(exc).__name__}"
        raise UsageError("E608", said, "pass a new folder that can be written, on a disk with room for it") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_files(staging: Path, out: Path) -> None:
    for item in sorted(staging.rglob("*")):
        if item.is_file():
            placed = out / item.relative_to(staging)
            placed.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item, placed)
