"""`gguf:FILE` references: the GGUFSource of a real GGUF file, the content-keyed conversion cache, and the
errors of a missing, foreign or unreadable file (no model is scored here; tests/e2e/test_gguf_models.py does)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import msgspec
import pytest
from invarlock.domain.errors import UsageError
from invarlock.domain.model import GGUFSource, LoadOptions

pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def packaged() -> Path:
    pytest.importorskip("gguf")
    from invarlock.adapters.hf_demo import gguf_path

    return gguf_path()


@pytest.fixture(scope="module")
def source(packaged: Path) -> GGUFSource:
    from invarlock.adapters.hf_gguf import describe

    return describe(packaged)


def test_the_source_of_the_packaged_file_counts_every_tensor_and_digests_its_listing(
    packaged: Path, source: GGUFSource
) -> None:
    import gguf

    reader = gguf.GGUFReader(packaged)
    assert source.file_sha256 == hashlib.sha256(packaged.read_bytes()).hexdigest()
    assert source.tensor_types == dict(Counter(t.tensor_type.name for t in reader.tensors))
    assert sum(source.tensor_types.values()) == len(reader.tensors)
    listing = "".join(f"{n}\t{k}\n" for n, k in sorted((t.name, t.tensor_type.name) for t in reader.tensors))
    assert source.tensor_types_sha256 == hashlib.sha256(listing.encode()).hexdigest()
    assert len(source.metadata_sha256) == 64 and source.metadata_sha256 != source.tensor_types_sha256


def test_the_demo_model_and_gguf_of_its_file_share_one_cached_conversion(packaged: Path, source: GGUFSource) -> None:
    from invarlock.adapters.hf_demo import demo_model_dir
    from invarlock.adapters.hf_gguf import SOURCE_FILE, open_gguf

    folder, cached = open_gguf(packaged)
    assert folder == demo_model_dir() and folder.name == f"gguf-{source.file_sha256[:16]}"
    assert cached == source
    assert json.loads((folder / SOURCE_FILE).read_bytes())["file_sha256"] == source.file_sha256


def test_a_cached_record_of_another_file_is_refused(
    packaged: Path, source: GGUFSource, tmp_path: Path, monkeypatch
) -> None:
    from invarlock.adapters.hf_gguf import SOURCE_FILE, open_gguf

    monkeypatch.setenv("INVARLOCK_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "models" / f"gguf-{source.file_sha256[:16]}"
    folder.mkdir(parents=True)
    (folder / SOURCE_FILE).write_bytes(msgspec.json.encode(msgspec.structs.replace(source, file_sha256="0" * 64)))
    with pytest.raises(UsageError) as err:
        open_gguf(packaged)
    assert err.value.code == "E102" and "is of another file" in err.value.message and str(folder) in err.value.hint


@pytest.mark.parametrize(
    ("name", "content", "code", "needle"),
    [
        ("missing.gguf", None, "E101", "does not exist"),
        ("garbage.gguf", b"not a gguf file at all", "E102", "could not be loaded as GGUF"),
    ],
)
def test_a_missing_or_unreadable_gguf_file_is_a_usage_error_and_leaves_no_cache(
    tmp_path: Path, monkeypatch, name: str, content: bytes | None, code: str, needle: str
) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader

    monkeypatch.setenv("INVARLOCK_CACHE_DIR", str(tmp_path / "cache"))
    file = tmp_path / name
    if content is not None:
        file.write_bytes(content)
    with pytest.raises(UsageError) as err:
        HFModelLoader().load(f"gguf:{file}", LoadOptions(device="cpu"))
    assert err.value.code == code and needle in err.value.message
    assert not list((tmp_path / "cache").glob("models/*")) and not list((tmp_path / "cache").glob("models/.*"))


@pytest.mark.parametrize("kind", ["device", "pipe"])
def test_a_device_or_a_pipe_is_not_a_regular_file_rather_than_missing(tmp_path: Path, kind: str) -> None:
    """`gguf:/dev/null` and a FIFO were said not to exist (the inputs hunt)."""
    import os

    from invarlock.adapters.hf_gguf import open_gguf

    path = Path("/dev/null")
    if kind == "pipe":
        path = tmp_path / "fifo.gguf"
        os.mkfifo(path)
    with pytest.raises(UsageError) as err:
        open_gguf(path)
    said = f"GGUF file {path} is {'a FIFO' if kind == 'pipe' else 'a device'}, not a file"
    assert err.value.code == "E101" and err.value.message == said


def test_a_gguf_file_given_as_a_plain_path_is_told_to_use_the_prefix(packaged: Path) -> None:
    from invarlock.adapters.hf_reference import resolve_reference

    with pytest.raises(UsageError) as err:
        resolve_reference(str(packaged))
    assert err.value.code == "E102" and err.value.hint == f"pass it as gguf:{packaged}"


def test_a_conversion_killed_half_way_leaves_nothing_once_the_next_one_ran(
    packaged: Path, source: GGUFSource, tmp_path: Path, monkeypatch
) -> None:
    """The killed process's staging folder (0.5 GB) used to stay for an hour, and for good once a later conversion
    had made the cache folder; the next open now removes it. A finished folder holds no owner file."""
    import os
    import subprocess
    import sys
    import time

    from invarlock.adapters.hf_gguf import OWNER_FILE, SOURCE_FILE, open_gguf

    models = tmp_path / "models"
    env = {**os.environ, "INVARLOCK_CACHE_DIR": str(tmp_path)}
    code = "import sys, pathlib; from invarlock.adapters.hf_gguf import open_gguf; open_gguf(pathlib.Path(sys.argv[1]))"
    converting = subprocess.Popen([sys.executable, "-c", code, str(packaged)], env=env)
    deadline = time.monotonic() + 120
    while not list(models.glob(f".gguf-*/{OWNER_FILE}")) and time.monotonic() < deadline:
        time.sleep(0.05)
    converting.kill()
    converting.wait()
    [left] = list(models.glob(".gguf-*"))
    from invarlock.adapters.hf_demo import demo_model_dir

    # A later process converted it meanwhile (the demo's conversion stands in for it, saving 20 s of converting).
    (models / f"gguf-{source.file_sha256[:16]}").symlink_to(demo_model_dir(), target_is_directory=True)
    monkeypatch.setenv("INVARLOCK_CACHE_DIR", str(tmp_path))
    folder, cached = open_gguf(packaged)
    assert cached == source and not left.exists()
    assert sorted(p.name for p in models.iterdir()) == [folder.name]
    assert (folder / SOURCE_FILE).is_file() and not (folder / OWNER_FILE).exists()


def test_a_second_process_waits_for_the_conversion_instead_of_converting_again(
    packaged: Path, source: GGUFSource, tmp_path: Path
) -> None:
    """Two certifications of a new GGUF file at once (or two test workers on a fresh machine) used to convert it
    twice side by side; the second now waits on the first's lock and takes its folder."""
    import fcntl
    import os
    import subprocess
    import sys
    import time

    from invarlock.adapters.hf_demo import demo_model_dir

    models = tmp_path / "models"
    models.mkdir()
    target = models / f"gguf-{source.file_sha256[:16]}"
    lock = os.open(models / f".lock-{target.name}", os.O_WRONLY | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as a converting process holds it
    env = {**os.environ, "INVARLOCK_CACHE_DIR": str(tmp_path)}
    code = (
        "import sys, pathlib; from invarlock.adapters.hf_gguf import open_gguf; "
        "print(open_gguf(pathlib.Path(sys.argv[1]))[0])"
    )
    waiting = subprocess.Popen([sys.executable, "-c", code, str(packaged)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        assert waiting.poll() is None and not list(models.glob(".gguf-*"))  # waits; no conversion of its own
        target.symlink_to(demo_model_dir(), target_is_directory=True)  # the "first process" finishes
    finally:
        os.close(lock)
    out, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0 and out.strip() == str(target)
    assert sorted(p.name for p in models.iterdir()) == [target.name]  # the lock file went with the wait


def test_a_cached_conversion_changed_after_it_was_written_is_refused(
    packaged: Path, source: GGUFSource, tmp_path: Path, monkeypatch
) -> None:
    """A weight of the cached checkpoint scaled by 1.02 was certified under the GGUF file's sha256, and the issuer's
    re-execution audit, reading the same cache, confirmed it (the real-checkpoint hunt). A copy of the cache that
    did not keep the files' times holds the same bytes and is taken; a conversion without the record of its files
    (written before it existed) is recorded at its first load."""
    import os
    import shutil

    from invarlock.adapters.gguf_cache_check import FILES_FILE
    from invarlock.adapters.hf_demo import demo_model_dir
    from invarlock.adapters.hf_gguf import open_gguf

    shared, _ = open_gguf(packaged)  # the shared conversion, with the record of its files
    assert shared == demo_model_dir()
    monkeypatch.setenv("INVARLOCK_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "models" / shared.name
    shutil.copytree(shared, folder)  # copy2: the files' times kept
    assert open_gguf(packaged)[0] == folder
    weights = folder / "model.safetensors"
    original = weights.read_bytes()
    altered = bytearray(original)
    altered[-1] ^= 0x01  # the last byte of the last tensor: the file's size and header are unchanged
    weights.write_bytes(bytes(altered))
    with pytest.raises(UsageError) as err:
        open_gguf(packaged)
    assert err.value.code == "E102" and err.value.message.endswith(
        "was changed after it was written (model.safetensors)"
    )
    assert f"delete {folder}" in err.value.hint
    weights.write_bytes(original)  # the same bytes under a new time
    recorded = json.loads((folder / FILES_FILE).read_text(encoding="utf-8"))["model.safetensors"]
    assert open_gguf(packaged)[0] == folder
    again = json.loads((folder / FILES_FILE).read_text(encoding="utf-8"))["model.safetensors"]
    assert again["sha256"] == recorded["sha256"] and again["mtime_ns"] == os.stat(weights).st_mtime_ns
    (folder / FILES_FILE).unlink()
    assert open_gguf(packaged)[0] == folder and (folder / FILES_FILE).is_file()


@pytest.mark.parametrize("record", [b'{"file_sha256":', b'{"file_sha256": "%s"}'])
def test_a_damaged_record_of_a_cached_conversion_is_e102_naming_the_folder(
    packaged: Path, source: GGUFSource, tmp_path: Path, monkeypatch, record: bytes
) -> None:
    """The cache hunt: a truncated invarlock-gguf.json, or one missing a field, was E999 (msgspec's DecodeError)."""
    from invarlock.adapters.hf_gguf import SOURCE_FILE, open_gguf

    monkeypatch.setenv("INVARLOCK_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "models" / f"gguf-{source.file_sha256[:16]}"
    folder.mkdir(parents=True)
    (folder / SOURCE_FILE).write_bytes(record.replace(b"%s", source.file_sha256.encode()))
    with pytest.raises(UsageError) as err:
        open_gguf(packaged)
    assert err.value.code == "E102" and err.value.message.startswith(f"the cached conversion {folder} was changed: ")
    assert err.value.hint == f"delete {folder}"


def test_a_conversion_folder_without_its_record_is_converted_again_in_its_place(
    packaged: Path, source: GGUFSource, tmp_path: Path, monkeypatch
) -> None:
    """The cache hunt: a folder whose record was removed by hand was converted again (20 s), then the rename onto
    it failed with 'Directory not empty', naming a staging folder already removed, as E102 'check the path'. The
    conversion is stood in for by a copy of the shared one (the rename is what is tested)."""
    import shutil

    from invarlock.adapters import hf_gguf
    from invarlock.adapters.gguf_cache_check import FILES_FILE

    shared, _ = hf_gguf.open_gguf(packaged)

    def copied(_file: Path, staging: Path) -> GGUFSource:
        for item in shared.iterdir():
            if item.name not in (hf_gguf.SOURCE_FILE, FILES_FILE):
                shutil.copy2(item, staging / item.name)
        return source

    monkeypatch.setattr(hf_gguf, "_convert", copied)
    monkeypatch.setenv("INVARLOCK_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "models" / shared.name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")  # what was left of it
    assert hf_gguf.open_gguf(packaged) == (folder, source)
    assert (folder / "config.json").read_bytes() == (shared / "config.json").read_bytes()
    assert sorted(p.name for p in folder.parent.iterdir() if not p.name.startswith(".lock")) == [folder.name]
