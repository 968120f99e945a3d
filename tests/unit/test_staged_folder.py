"""An export folder is written whole or not at all (adapters/staged_folder.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.adapters.staged_folder import staged_folder
from invarlock.domain.errors import UsageError


def _write(folder: Path, **files: str) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("exists", ["missing", "empty"])
def test_a_complete_write_becomes_the_folder(tmp_path: Path, exists: str) -> None:
    target = tmp_path / "out" / "model"
    if exists == "empty":
        target.mkdir(parents=True)
    with staged_folder(target) as staging:
        assert staging != target and not any(p.is_file() for p in target.parent.rglob("model/*"))
        _write(staging, **{"model.safetensors": "w", "sub/tokenizer.json": "t"})
    assert _tree(target) == {"model.safetensors": "w", "sub/tokenizer.json": "t"}
    assert [p.name for p in target.parent.iterdir()] == ["model"]  # no staging folder left


def test_a_complete_write_replaces_the_files_it_writes_in_a_folder_holding_others(tmp_path: Path) -> None:
    _write(tmp_path / "model", **{"model.safetensors": "old", "notes.txt": "mine"})
    with staged_folder(tmp_path / "model") as staging:
        _write(staging, **{"model.safetensors": "new"})
    assert _tree(tmp_path / "model") == {"model.safetensors": "new", "notes.txt": "mine"}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError])
@pytest.mark.parametrize("exists", ["missing", "holding a model"])
def test_an_interrupted_or_failed_write_leaves_the_folder_as_it_was(tmp_path: Path, stop: type, exists: str) -> None:
    """Ctrl-C while the checkpoint was saved left a half-written model folder that a later --subject loads."""
    target = tmp_path / "model"
    if exists != "missing":
        _write(target, **{"model.safetensors": "old"})
    before = _tree(target) if target.exists() else None
    with pytest.raises(UsageError if stop is OSError else stop), staged_folder(target) as staging:  # E608
        _write(staging, **{"model.safetensors": "half"})
        raise stop()
    assert (_tree(target) if target.exists() else None) == before
    assert [p.name for p in tmp_path.iterdir()] == ([] if before is None else ["model"])


def test_a_file_where_the_folder_or_its_parent_belongs_is_e608_naming_the_folder(tmp_path: Path) -> None:
    """The file-system hunt: --export and --events naming one new path was E999 (NotADirectoryError from the rename)
    after the whole run; the CLI now refuses that before the run, and any such write is E608."""
    (tmp_path / "taken").write_text("a store", encoding="utf-8")
    for target in (tmp_path / "taken", tmp_path / "taken" / "model"):
        with pytest.raises(UsageError) as refused, staged_folder(target) as staging:
            _write(staging, **{"model.safetensors": "w"})
        assert refused.value.code == "E608" and f"cannot write the checkpoint to '{target}'" in refused.value.message
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "a store" and len(list(tmp_path.iterdir())) == 1
