"""Every error code the product raises has a row in the user guide's table of error codes, and every row is a
code the product raises: a user who meets E513 can look it up."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGES = ("domain", "ports", "application", "adapters", "cli")


def _raised() -> set[str]:
    codes: set[str] = set()
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            codes |= set(re.findall(r'"(E\d{3})"', source.read_text(encoding="utf-8")))
    return codes


def _documented() -> set[str]:
    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| (E\d{3}) \|", guide, re.M))


def test_the_user_guide_lists_exactly_the_codes_the_product_raises() -> None:
    raised, documented = _raised(), _documented()
    assert len(raised) > 50  # the scan found the sources
    assert raised - documented == set(), "add a row to docs/user-guide.md's error table"
    assert documented - raised == set(), "a documented code no source raises"
