"""domain/numpy_scalars.py: numpy scalars are the Python numbers they hold; nothing else is converted."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from invarlock.domain.numpy_scalars import numpy_enc_hook, plain_number


@pytest.mark.parametrize(
    ("scalar", "number"), [(np.int64(7), 7), (np.int32(-1), -1), (np.float64(0.5), 0.5), (np.bool_(True), True)]
)
def test_a_numpy_scalar_is_the_python_number_it_holds(scalar: object, number: object) -> None:
    assert plain_number(scalar) == number and type(plain_number(scalar)) is type(number)
    assert msgspec.to_builtins({"x": [scalar]}, enc_hook=numpy_enc_hook) == {"x": [number]}


def test_anything_else_is_left_as_it_is_and_refused_as_a_json_value() -> None:
    odd, text = complex(1, 2), "7"
    assert plain_number(odd) is odd and plain_number(text) is text
    with pytest.raises(TypeError, match="complex is not a JSON value"):
        msgspec.to_builtins({"x": odd}, enc_hook=numpy_enc_hook)


@pytest.mark.parametrize("array", [np.zeros(2), np.array([7]), np.array(7)], ids=["two values", "one value", "0-d"])
def test_a_numpy_array_is_no_number_whatever_its_size(array: object) -> None:
    """An array's .item() gave a one-value array's number (a size-2 array raised ValueError, which no caller
    expects: E999); arrays are refused as any other value that is no number."""
    assert plain_number(array) is array
    with pytest.raises(TypeError, match="ndarray is not a JSON value"):
        msgspec.to_builtins({"x": array}, enc_hook=numpy_enc_hook)
