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


def test_the_user_guide_states_the_version_the_package_is() -> None:
    """It said 0.3.8 in its first line and 0.3.7 for `--version` while the package was 0.3.9 (stop-62 docs hunt)."""
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert version is not None
    head = "\n".join((ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8").splitlines()[:8])
    stated = set(re.findall(r"version (\d+\.\d+\.\d+)", head)) | set(re.findall(r"invarlock (\d+\.\d+\.\d+) ·", head))
    assert stated == {version.group(1)}, stated
