"""INVARLOCK_CACHE_DIR (or XDG_CACHE_HOME) that cannot be a folder is one usage error naming the variable, not an
E999 from the first file written under it (stop 38's CLI hunt)."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.adapters.cache_dir import cache_root
from invarlock.domain.canonical import is_utf8
from invarlock.domain.errors import UsageError

from tests.fakes.cli import run_cli


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


@pytest.mark.hf  # the doctor reaches the model checks only with the hf extra installed (else E105 first)
@pytest.mark.parametrize("variable", ["HOME", "XDG_CACHE_HOME", "INVARLOCK_CACHE_DIR"])
def test_a_file_where_the_cache_folders_parent_must_be_is_e200_naming_the_variable_not_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # HOME=/some/file: the doctor and run blamed the packaged demo model ("cannot read model demo:smollm2-135m
    # (/some/file/.cache/invarlock/models): Not a directory", E102).
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    for name in ("INVARLOCK_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(afile / "sub") if variable == "INVARLOCK_CACHE_DIR" else str(afile))
    code, out, _ = run_cli("doctor", "--events", tmp_path / "events.duckdb")
    assert code == 2 and f"({variable}) cannot be a folder: {afile} is a file" in out, out
    assert f"set {variable} to a folder" in out and "[INVARLOCK:D200]" in out and "D102" not in out


@pytest.mark.parametrize("value", ["/proc/1/nope", "/sys/kernel"])
def test_a_cache_folder_no_conversion_can_be_written_in_is_e200_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """The first conversion failed as `D102 cannot read model demo:smollm2-135m (/proc/1/nope)` (the event-store
    hunt); the cache root itself stays usable for reading (a read-only cache that holds the conversion)."""
    from invarlock.adapters.hf_gguf import open_gguf

    monkeypatch.setenv("INVARLOCK_CACHE_DIR", value)
    assert cache_root() == Path(value)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF not converted yet")
    with pytest.raises(UsageError) as refused:
        open_gguf(model)
    assert refused.value.code == "E200"
    assert refused.value.message.startswith(
        f"the cache folder {value} (INVARLOCK_CACHE_DIR) cannot keep the conversion"
    )
    assert refused.value.hint == "set INVARLOCK_CACHE_DIR to a folder this user can write, or unset it"
    monkeypatch.delenv("INVARLOCK_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", value)
    with pytest.raises(UsageError) as refused:
        open_gguf(model)
    assert "(XDG_CACHE_HOME)" in refused.value.message  # the variable that placed it; the one to set is ours
    assert refused.value.hint == "set INVARLOCK_CACHE_DIR to a folder this user can write"
