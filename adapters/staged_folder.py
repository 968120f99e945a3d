"""A folder written whole or not at all: an export is written into a hidden sibling folder and moved into place
only when it is complete, so Ctrl-C, a full disk or a failed save never leaves a half-written checkpoint that a
later `--subject` or `verify --subject` would load."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """Yield a fresh folder beside `target` to write into; on success its files replace `target`'s (the folder
    itself when `target` is missing or empty, else file by file, each an atomic rename); on any error or
    interrupt the staging folder is removed and `target` is as it was."""
    out = Path(target)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        _move_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, out: Path) -> None:
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        os.replace(staging, out)  # an empty folder is replaced whole
        return
    for item in sorted(staging.rglob("*")):
        if item.is_dir():
            continue
        placed = out / item.relative_to(staging)
        placed.parent.mkdir(parents=True, exist_ok=True)
        os.replace(item, placed)
