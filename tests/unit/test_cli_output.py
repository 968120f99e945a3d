"""Every command prints through cli/console.py, so `--quiet`, `--verbose` and NO_COLOR hold for all of them:
no other CLI module writes to stdout or stderr itself (the progress bar, which --quiet turns off, excepted)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from invarlock import cli as cli_package

CLI = Path(next(iter(cli_package.__path__)))
# the output helpers, the error line, the progress bar, and start.py's error line while the CLI is being imported
OWN_OUTPUT = {"console.py", "main.py", "progress.py", "start.py"}
FORBIDDEN = {("click", "echo"), ("click", "secho"), ("sys", "stdout"), ("sys", "stderr")}


def _forbidden(owner: ast.Name, attribute: str) -> bool:
    return (owner.id, attribute) in FORBIDDEN


def _writes(source: Path) -> list[str]:
    """`print(...)`, `click.echo`/`secho` and `sys.stdout`/`sys.stderr` uses in `source`, with line numbers."""
    found = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(f"{source.name}:{node.lineno} print")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _forbidden(node.value, node.attr):
            found.append(f"{source.name}:{node.lineno} {node.value.id}.{node.attr}")
    return found


MODULES = sorted(p for p in CLI.glob("*.py") if p.name not in OWN_OUTPUT)


@pytest.mark.parametrize("source", MODULES, ids=lambda p: p.name)
def test_a_cli_module_prints_only_through_the_console(source: Path) -> None:
    assert _writes(source) == [], "use console.out (requested output), say/tell (commentary) or note (--verbose)"
