"""What a hostile certificate costs verify before it is refused (the DoS hunt): the nesting check counted a 250 MB
file of brackets with 4.4 GB of arrays, and the non-finite check walked a 21 MB certificate five times in Python
(26 s). The answers must stay those of the plain definitions."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from invarlock.domain import canonical, certificate


def _plain_depth(data: bytes) -> int:
    text = np.frombuffer(certificate._STRING.sub(b'""', data), dtype=np.uint8)
    steps = np.isin(text, (ord("["), ord("{"))).astype(np.int64) - np.isin(text, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def test_the_depth_counted_a_block_at_a_time_is_the_whole_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(certificate, "_DEPTH_BLOCK", 3)
    pieces = [b"[", b"]", b"{", b"}", b'"[{"', b'"\\"["', b"1", b","]
    rng = random.Random(5)
    for _ in range(300):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40)))
        assert certificate.nesting_depth(data) == _plain_depth(data), data


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ({"a": [1.0, 2.0], "b": {"c": [3, math.nan]}}, (".b.c[1]", "nan")),
        ({"big": 10**5000, "x": [-math.inf]}, (".x[0]", "-inf")),  # the fast check refuses the int: walked
        ({(1, 2): 1.0, "y": math.inf}, (".y", "inf")),  # a key that is no text: walked
        ([np.float64("nan")], ("[0]", "nan")),
        ({"a": [1.0] * 1000, "b": "nan"}, None),
        ({"big": 10**5000}, None),
    ],
)
def test_the_first_non_finite_number_is_found_where_the_walk_finds_it(value: object, found: object) -> None:
    result = canonical.first_non_finite(value)
    assert (None if result is None else (result[0], str(result[1]))) == found
