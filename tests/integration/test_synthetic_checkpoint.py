"""benchmarks/synthetic_checkpoint.py (the random models of the memory measurements): the smallest width it
allows writes a checkpoint the product loads, and a width it cannot build is one error line, not a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.hf
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "synthetic_checkpoint.py"


def _write(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), str(out), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


def test_one_head_is_the_smallest_model_and_it_loads(tmp_path: Path) -> None:
    """--hidden 64 is one head of the demo's size: the grouped key/value heads used to be max() of nothing."""
    done = _write(tmp_path / "m", "--hidden", "64", "--intermediate", "64", "--layers", "1")
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    assert (config["num_attention_heads"], config["num_key_value_heads"], config["num_hidden_layers"]) == (1, 1, 1)
    from invarlock.cli.bootstrap import build_services
    from invarlock.domain.model import LoadOptions

    model = build_services(events=tmp_path / "ev.duckdb").loader.load(str(tmp_path / "m"), LoadOptions(device="cpu"))
    assert model.identity().param_count > 0 and len(list(model.matrices())) == 8  # embedding, 4 attention, 3 MLP


@pytest.mark.parametrize(("args", "said"), [(["--hidden", "65"], "multiple of"), (["--layers", "0"], "at least 1")])
def test_a_size_it_cannot_build_is_one_error_line(tmp_path: Path, args: list[str], said: str) -> None:
    done = _write(tmp_path / "m", *args)
    assert done.returncode == (2 if said == "at least 1" else 1)  # argparse's own status; the width is checked later
    assert said in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m").exists()
