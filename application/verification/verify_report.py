"""The outcome of verify: named checks and the exit code they give (what verify proves: verify_proves.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec
from invarlock.domain.errors import EXIT_GATES_FAILED, EXIT_INTEGRITY, EXIT_OK

# Free-form JSON of the wrong shape (recorded policy overrides, the run config) raises one of these when read.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError)


def dig(value: Any, *keys: str) -> Any:
    """value[k1][k2]... of free-form JSON, None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    integrity: bool = True


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)
    verdict: str | None = None

    @property
    def ok(self) -> bool:
        return all(ch.ok for ch in self.checks)

    @property
    def exit_code(self) -> int:
        if any(not ch.ok and ch.integrity for ch in self.checks):
            return EXIT_INTEGRITY
        return EXIT_GATES_FAILED if self.verdict != "PASS" or not self.ok else EXIT_OK

    def add(self, name: str, ok: bool, detail: str, integrity: bool = True) -> bool:
        self.checks.append(Check(name, ok, detail, integrity))
        return ok


def diff(stated: Any, recomputed: Any, path: str) -> str | None:
    """First difference between two plain values; floats too must match bit for bit (JSON keeps every bit)."""
    if isinstance(stated, dict) and isinstance(recomputed, dict):
        if stated.keys() != recomputed.keys():
            return path
        return next((d for k in stated if (d := diff(stated[k], recomputed[k], f"{path}.{k}"))), None)
    if isinstance(stated, list | tuple) and isinstance(recomputed, list | tuple):  # a rebuilt Struct keeps tuples
        if len(stated) != len(recomputed):
            return path
        return next(
            (d for i, (a, b) in enumerate(zip(stated, recomputed, strict=True)) if (d := diff(a, b, f"{path}[{i}]"))),
            None,
        )
    same = stated == recomputed and type(stated) is type(recomputed)
    if same and isinstance(stated, float):  # -0.0 == 0.0, yet the certificate's bits are its digest's
        same = math.copysign(1.0, stated) == math.copysign(1.0, recomputed)
    return None if same else path


def compare(report: VerifyReport, name: str, stated: Any, recomputed: Any) -> bool:
    """One check: the stated section equals the recomputed one exactly."""
    where = diff(msgspec.to_builtins(stated), msgspec.to_builtins(recomputed), name)
    return report.add(name, where is None, "recomputed from evidence" if where is None else f"mismatch at {where}")
