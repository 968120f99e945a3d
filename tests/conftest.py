"""Suite-wide markers: every `model` test is an `hf` test too, so `pytest -m "not hf"` runs the model-free tests.

`make test-newest` runs `-m "not hf"` in a virtualenv without the hf extra (no torch). A module whose own imports
need torch cannot even be imported there, so in such a run a module that declares `hf` or `model` in its
module-level `pytestmark` is not collected at all; the declaration is read from its source, not imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HF_MARKS = frozenset({"hf", "model"})
MODEL_FREE_EXPR = "not hf"


# `make test` runs the whole suite on two workers, one module at a time per worker, in collection order
# (`--dist loadscope --no-loadscope-reorder`). The modules that take longest go first, so that no worker is left
# with one of them at the end while the other idles; the model-free modules (seconds each) go last and fill the gaps.
# Measured on a 2-core AMD EPYC (docs/performance.md, "make test time"), seconds of one worker, slowest first.
SLOWEST_MODULES = (
    "e2e/test_guard_calibration.py",  # about 190
    "e2e/test_ray_scoring.py",  # about 150 alone, more beside the other worker
    "contracts/test_model_runner_contract.py",  # the demo's ONNX export on a fresh machine, about 150
    "e2e/test_reduced_precision.py",  # about 115
    "e2e/test_killed_run.py",  # about 100
    "e2e/test_reexecution_audit.py",  # about 100
    "e2e/test_certify_real_model.py",  # about 90
    "e2e/test_gguf_models.py",  # about 70
    "e2e/test_tampering.py",  # about 60
    "e2e/test_baseline_reuse_cli.py",  # about 55
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("model") is not None:
            item.add_marker(pytest.mark.hf)
    order = {item: i for i, item in enumerate(items)}
    items.sort(key=lambda item: (_rank(item), order[item]))


def _rank(item: pytest.Item) -> tuple[int, int]:
    """Slowest listed modules first, in the listed order; then the other model modules; then the model-free."""
    path = item.path.as_posix()
    for i, module in enumerate(SLOWEST_MODULES):
        if path.endswith(f"/tests/{module}"):
            return (0, i)
    return (1 if item.get_closest_marker("hf") is not None else 2, 0)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption("markexpr", "").strip() != MODEL_FREE_EXPR:
        return None
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    return True if declared_marks(collection_path) & HF_MARKS else None


def declared_marks(path: Path) -> set[str]:
    """The names `N` of every `pytest.mark.N` in the module-level `pytestmark = ...` assignment of `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    marks: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks |= {
                sub.attr
                for sub in ast.walk(node.value)
                if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute) and sub.value.attr == "mark"
            }
    return marks
