"""domain.weight_digest: a sequential run compares a subject matrix with the baseline's digest, so the digest
must say equal exactly when np.array_equal would with both matrices held."""

from __future__ import annotations

import numpy as np
import pytest
from invarlock.application.certification.recorded_baseline import same_values, summary_of
from invarlock.domain import weight_digest
from invarlock.domain.weight_digest import matrix_digest

from tests.fakes.models import FakeMatrix

RNG = np.random.default_rng(5)
BASE = RNG.standard_normal((300, 7)).astype(np.float32)  # more rows than one block of ROWS_PER_BLOCK


def _changed(at: tuple[int, int], value: float, array: np.ndarray = BASE) -> np.ndarray:
    out = array.copy()
    out[at] = value
    return out


PAIRS = {
    "the same values": (BASE, BASE.copy()),
    "float64 of the same values": (BASE, BASE.astype(np.float64)),
    "float16 values held as float16 and float32": (BASE.astype(np.float16), BASE.astype(np.float16).astype(np.float32)),
    "-0.0 and 0.0": (_changed((3, 1), 0.0), _changed((3, 1), -0.0)),
    "one value in the last block": (BASE, _changed((299, 6), 1.5)),
    "a float64 value float32 cannot hold": (BASE.astype(np.float64), _changed((0, 0), 0.1, BASE.astype(np.float64))),
    "the transposed shape": (np.zeros((7, 300), np.float32), np.zeros((300, 7), np.float32)),
    "one row more": (np.zeros((300, 7), np.float32), np.zeros((301, 7), np.float32)),
}


@pytest.mark.parametrize(("a", "b"), PAIRS.values(), ids=PAIRS.keys())
def test_equal_digests_exactly_when_array_equal(a: np.ndarray, b: np.ndarray) -> None:
    assert (matrix_digest(a) == matrix_digest(b)) == np.array_equal(a, b)
    held = FakeMatrix(name="w", family="ffn", block=0, head=False, array=a)
    subject = FakeMatrix(name="w", family="ffn", block=0, head=False, array=b)
    assert same_values(summary_of(held), subject) == same_values(held, subject) == np.array_equal(a, b)


def test_the_cases_cover_both_answers_and_more_than_one_block() -> None:
    answers = {np.array_equal(a, b) for a, b in PAIRS.values()}
    assert answers == {True, False} and BASE.shape[0] > weight_digest.ROWS_PER_BLOCK


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_a_view_in_any_memory_order_digests_as_its_values_in_row_order(dtype: type) -> None:
    """A transposed weight (GPT-2's Conv1D) or a strided view is hashed as the C-order copy of its values."""
    values = np.random.default_rng(5).standard_normal((300, 520)).astype(dtype)
    for view in (values.T, values[::2], np.asfortranarray(values), values[:, 1:]):
        assert matrix_digest(view) == matrix_digest(np.ascontiguousarray(view))
    assert matrix_digest(values.T) != matrix_digest(np.ascontiguousarray(values.T).reshape(300, 520))
