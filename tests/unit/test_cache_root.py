"""INVARLOCK_CACHE_DIR (or XDG_CACHE_HOME) that cannot be a folder is one usage error naming the variable, not an
E999 from the first file written under it (stop 38's CLI hunt)."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.adapters.cache_dir import cache_root
from invarlock.domain.canonical import is_utf8
from invarlock.domain.errors import UsageError


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("afile", "is not a folder"),
        ("~nosuchuser/cache", "cannot be a folder"),
        ("c" * 300, "cannot be a folder"),
        ("c\udcff", "is not UTF-8 text"),  # bytes b"c\xff": blamed on the demo GGUF as E102 before
    ],
)
def test_a_cache_folder_that_cannot_be_one_is_e200_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INVARLOCK_CACHE_DIR", value)
    with pytest.raises(UsageError) as caught:
        cache_root()
    assert caught.value.code == "E200" and f"(INVARLOCK_CACHE_DIR) {reason}" in caught.value.message
    assert is_utf8(caught.value.message)  # printable and recordable as it stands


def test_a_folder_or_a_path_still_to_make_is_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVARLOCK_CACHE_DIR", str(tmp_path / "new" / "cache"))
    assert cache_root() == tmp_path / "new" / "cache"
    monkeypatch.delenv("INVARLOCK_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "invarlock"
