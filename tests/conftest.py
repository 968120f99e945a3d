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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("model") is not None:
            item.add_marker(pytest.mark.hf)


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
