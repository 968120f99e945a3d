"""Numpy scalars taken as the Python numbers they hold, where a third party's answer enters (msgspec encodes no
numpy type, so an np.int64 count or an np.float64 sum would otherwise end in an encoding error)."""

from __future__ import annotations

from typing import Any

import numpy as np


def plain_number(value: Any) -> Any:
    """`value`, or the Python number it holds when it is a numpy scalar (np.int64 → int, np.float64 → float,
    np.bool_ → bool). An array, even of one value, is no scalar: it is returned as it is."""
    return value.item() if isinstance(value, np.generic) else value


def numpy_enc_hook(value: Any) -> Any:
    """An msgspec `enc_hook`: a numpy scalar as its Python number; TypeError for any other unencodable value."""
    plain = plain_number(value)
    if plain is value:
        raise TypeError(f"{type(value).__name__} is not a JSON value")
    return plain
