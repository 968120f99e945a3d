"""tools/pick-python, which `make` uses to choose interpreters, on fake interpreters in an isolated PATH."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "pick-python"
TOOLS = ("bash", "sed", "dirname", "ls", "sort")


def _fake_bin(tmp_path: Path, interpreters: dict[str, str | None]) -> Path:
    """A PATH folder with the shell tools the script needs and fake interpreters answering their version.

    A `None` version is an interpreter that fails to run, as a pyenv shim for an inactive version does.
    """
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found is not None, tool
        (folder / tool).symlink_to(found)
    for name, version in interpreters.items():
        body = "exit 127" if version is None else f"echo {version}"
        (folder / name).write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        (folder / name).chmod(0o755)
    return folder


def _pick(tmp_path: Path, mode: str, **interpreters: str | None) -> subprocess.CompletedProcess[str]:
    folder = _fake_bin(tmp_path, {name.replace("_", "."): v for name, v in interpreters.items()})
    return subprocess.run([str(SCRIPT), mode], env={"PATH": str(folder)}, capture_output=True, text=True, timeout=60)


def _minimum() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    [line] = [line for line in text.splitlines() if line.startswith("requires-python")]
    return line.split(">=")[1].strip('"')


@pytest.fixture
def minor() -> int:
    major, minor = _minimum().split(".")
    assert major == "3"
    return int(minor)


def test_the_declared_minimum_is_preferred_over_a_newer_default_python3(tmp_path: Path, minor: int) -> None:
    versions = {f"python3_{minor}": f"3.{minor}", "python3": f"3.{minor + 2}"}
    done = _pick(tmp_path, "minimum", **versions)
    assert (done.returncode, done.stdout) == (0, f"python3.{minor}\n")


def test_python3_is_used_when_it_is_new_enough_and_no_exact_minimum_exists(tmp_path: Path, minor: int) -> None:
    done = _pick(tmp_path, "minimum", python3=f"3.{minor + 1}", **{f"python3_{minor}": None})
    assert (done.returncode, done.stdout) == (0, "python3\n")


def test_too_old_a_python3_is_one_error_line(tmp_path: Path, minor: int) -> None:
    done = _pick(tmp_path, "minimum", python3=f"3.{minor - 1}")
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("ERROR: ") and f"3.{minor}" in line and " — " in line


def test_newest_is_the_highest_runnable_version_above_the_minimum(tmp_path: Path, minor: int) -> None:
    versions = {
        f"python3_{minor}": f"3.{minor}",
        f"python3_{minor + 1}": f"3.{minor + 1}",
        f"python3_{minor + 2}": None,
    }
    done = _pick(tmp_path, "newest", **versions)
    assert (done.returncode, done.stdout) == (0, f"python3.{minor + 1}\n")


def test_no_newer_python_prints_nothing(tmp_path: Path, minor: int) -> None:
    done = _pick(tmp_path, "newest", python3=f"3.{minor}", **{f"python3_{minor}": f"3.{minor}"})
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
