"""docs/python-api.md runs as written: its Python blocks, in order, in one namespace, in a fresh folder (the
demo pair certified, its interval read, verified under a stricter tier, replayed and rendered)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.model, pytest.mark.slow]

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def test_the_python_api_page_runs_as_written(demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 4, "the worked example: certify, read the interval, verify, replay and render, errors"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert (tmp_path / "reports" / "demo" / "evaluation.cert.json").is_file()
    assert (tmp_path / "reports" / "demo" / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
