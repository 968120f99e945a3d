"""The core and the verify/replay path stay free of torch, transformers, onnxruntime and duckdb; the wheel is whole."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "duckdb", "datasets", "safetensors", "cryptography", "onnxruntime", "onnx", "ray")


def test_importing_core_and_the_verify_cli_path_loads_no_heavy_runtime():
    code = (
        "import sys, invarlock.domain.build, invarlock.application.certification.certify, "
        "invarlock.application.verification.verify, invarlock.application.replay.replay, invarlock.cli.main, "
        "invarlock.cli.commands_verify, invarlock.cli.commands_replay\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_rendering_a_report_loads_no_heavy_runtime():
    code = (
        "import sys\n"
        "from invarlock.cli.commands_report import report_cmd\n"
        "from invarlock.cli.bootstrap import report_renderer\n"
        "report_renderer('html'), report_renderer('md')\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_import_linter_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:]


@pytest.mark.slow
def test_wheel_contains_every_module(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("invarlock-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for layer in ("domain", "ports", "application", "adapters", "cli"):
        for source in (ROOT / layer).rglob("*.py"):
            rel = source.relative_to(ROOT / layer)
            if rel.parts[0] == "entry":
                continue
            assert f"invarlock/{layer}/{rel.as_posix()}" in names, rel
    assert "invarlock/__main__.py" in names
    assert "invarlock/__init__.py" in names and "invarlock/py.typed" in names  # the Python API (cli/entry)
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    declared = zipfile.ZipFile(wheel).read(entry_points).decode()
    for group in ("adapters", "edits", "guards", "datasets", "metrics"):
        assert f"[invarlock.{group}]" in declared, group
    assert "invarlock/domain/py.typed" in names
    from invarlock.adapters import logit_rows

    if logit_rows.KERNEL == "compiled":  # this install compiled the logit-row kernel: so must the wheel build
        assert any(n.startswith("invarlock/adapters/_logit_rows.") and n.endswith((".so", ".pyd")) for n in names)
