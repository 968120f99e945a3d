"""Every error the product raises says how to fix it: `ERROR [INVARLOCK:E###] what happened — how to fix it`.

A raise of an InvarlockError kind whose hint is missing or an empty literal printed half of that line."""

from __future__ import annotations

import ast
from pathlib import Path

from invarlock.domain.errors import AbortError, ConcurrencyConflict, IntegrityError, InvarlockError, UsageError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "ports", "application", "adapters", "cli")
KINDS = {kind.__name__ for kind in (InvarlockError, UsageError, IntegrityError, AbortError, ConcurrencyConflict)}


def _hint(call: ast.Call) -> ast.expr | None:
    if len(call.args) > 2:
        return call.args[2]
    return next((k.value for k in call.keywords if k.arg == "hint"), None)


def _hintless(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KINDS):
            continue
        hint = _hint(node)
        if hint is None or (isinstance(hint, ast.Constant) and not str(hint.value).strip()):
            found.append(f"{path}:{node.lineno}: {ast.unparse(node)[:120]}")
    return found


def test_every_raised_error_has_a_hint() -> None:
    found = [
        line for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py")) for line in _hintless(path)
    ]
    assert found == [], "errors without a hint:\n" + "\n".join(found)


def test_the_scan_finds_a_hintless_error(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('raise UsageError("E200", "bad", "")\nraise IntegrityError("E604", "worse")\n', encoding="utf-8")
    assert len(_hintless(sample)) == 2
