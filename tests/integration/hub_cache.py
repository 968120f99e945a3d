"""A Hugging Face hub cache (huggingface_hub's on-disk layout) holding a real checkpoint under a bare id."""

from __future__ import annotations

import hashlib
from pathlib import Path


def cache_checkpoint(cache: Path, repo_id: str, checkpoint: Path) -> Path:
    """Place every file of `checkpoint` in `cache` as the hub does (`models--ORG--NAME/blobs/<sha256>`,
    `snapshots/<commit>/<file>` linking to its blob, `refs/main` naming the commit); returns the snapshot.
    Blobs are symlinks to the original files, so no weights are copied."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for file in sorted(p for p in checkpoint.iterdir() if p.is_file()):
        blob = repo / "blobs" / hashlib.sha256(file.name.encode() + str(file.stat().st_size).encode()).hexdigest()
        blob.symlink_to(file.resolve())
        (snapshot / file.name).symlink_to(Path("..", "..", "blobs", blob.name))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    return snapshot
