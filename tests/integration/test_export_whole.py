"""`--export`: the subject's checkpoint is written whole or not at all (Ctrl-C while saving it left a folder
holding weights without a tokenizer, which a later `--subject` or audit would try to load)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.model


def test_a_save_interrupted_after_the_weights_leaves_no_folder(
    editable_demo_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(editable_demo_model._tokenizer.inner, "save_pretrained", interrupted)
    with pytest.raises(KeyboardInterrupt):
        editable_demo_model.export(tmp_path / "int8")
    assert list(tmp_path.iterdir()) == []


def test_a_complete_export_holds_the_weights_and_the_tokenizer(editable_demo_model: Any, tmp_path: Path) -> None:
    out = editable_demo_model.export(tmp_path / "int8")
    assert out == tmp_path / "int8" and (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8"]
