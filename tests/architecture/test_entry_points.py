"""Every entry point builds through cli/bootstrap.py: the benchmarks construct no adapter themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))


def _imported_modules(source: Path) -> set[str]:
    """Every module an `import` or `from ... import` names anywhere in `source` (function bodies included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_there_are_benchmarks_to_check():
    assert {"certify_overhead.py", "guard_cost.py"} <= {p.name for p in BENCHMARKS}


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_a_benchmark_obtains_its_adapters_through_the_composition_root(script):
    adapters = sorted(m for m in _imported_modules(script) if m.startswith("invarlock.adapters"))
    assert adapters == [], f"{script.name} imports {adapters}; build them through invarlock.cli.bootstrap"
