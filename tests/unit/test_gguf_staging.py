"""A GGUF conversion killed half-way leaves a hidden staging folder beside its cache folder (0.5 GB for the demo).
The next open of any GGUF file removes it at once when its owner is dead; a live conversion's folder is kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from invarlock.adapters import cache_files, hf_gguf

# A process that takes the owner lock of a staging folder, says so, then waits on stdin (it is killed or exits).
HOLD = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


def _staging(models: Path, suffix: str) -> Path:
    folder = models / f".gguf-0123456789abcdef.{suffix}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * 1024)
    return folder


def _holder(owner_file: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(owner_file)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    return process


def test_a_killed_conversion_s_folder_goes_at_once_and_a_live_one_stays(tmp_path: Path) -> None:
    target = tmp_path / "models" / "gguf-0123456789abcdef"
    killed, live = _staging(target.parent, "killed"), _staging(target.parent, "live")
    dead_owner = _holder(killed / hf_gguf.OWNER_FILE)
    dead_owner.kill()
    dead_owner.wait()
    live_owner = _holder(live / hf_gguf.OWNER_FILE)
    try:
        hf_gguf.remove_abandoned_staging(target)
        assert not killed.exists()
        assert (live / "model.safetensors").is_file()  # its owner still converts into it
    finally:
        live_owner.kill()
        live_owner.wait()
    hf_gguf.remove_abandoned_staging(target)
    assert not live.exists()


def test_a_folder_without_an_owner_file_goes_only_once_abandoned(tmp_path: Path) -> None:
    """Just made (the owner file comes next) or left by a release before the owner file: judged by its age."""
    target = tmp_path / "models" / "gguf-0123456789abcdef"
    fresh, old = _staging(target.parent, "fresh"), _staging(target.parent, "old")
    then = time.time() - cache_files.STAGING_ABANDONED_S - 60
    os.utime(old, (then, then))
    hf_gguf.remove_abandoned_staging(target)
    assert fresh.is_dir() and not old.exists()
    assert not target.exists()  # the cache folder itself is never touched here


def test_the_conversion_lock_of_a_killed_process_goes_and_a_held_one_stays(tmp_path: Path) -> None:
    target = tmp_path / "models" / "gguf-0123456789abcdef"
    target.parent.mkdir(parents=True)
    lock = target.parent / f".lock-{target.name}"
    holder = _holder(lock)
    try:
        hf_gguf.remove_abandoned_staging(target)
        assert lock.exists()  # a conversion is under way
    finally:
        holder.kill()
        holder.wait()
    hf_gguf.remove_abandoned_staging(target)
    assert not lock.exists()
