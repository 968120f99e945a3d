"""domain.canonical.is_sha256_hex: the form every digest InvarLock records takes (identities, tokenizers, a
repaired subject's weights), as sha256_hex gives it."""

from __future__ import annotations

import pytest
from invarlock.domain.canonical import is_sha256_hex, sha256_hex


def test_a_digest_sha256_hex_gives_has_the_form() -> None:
    assert is_sha256_hex(sha256_hex(b"")) and is_sha256_hex("0" * 64)


@pytest.mark.parametrize(
    "text",
    ["AB" * 32, "ab" * 31, "ab" * 33, "xyz", "", f"{'ab' * 32}\n", f"sha256:{'ab' * 32}", None, 12, b"ab" * 32],
)
def test_anything_else_has_not(text: object) -> None:
    assert not is_sha256_hex(text)
