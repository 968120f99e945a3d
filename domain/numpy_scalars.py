"""Numpy scalars taken as the Python numbers they hold, where a third party's answer enters (msgspec encodes no
numpy type, so an np.int64 count or an np.float64 sum would otherwise end in an encoding error)."""

from __future__ import annotations

from typing import Any


def plain_number(value: Any) -> Any:
    """`value`, or the Python number it holds when it is a numpy scalar (np.int64 → int, np.float64 → float,
    np.bool_ → bool)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and type(value).__module__ == "numpy" else value


def numpy_enc_hook(value: Any) -> Any:
    """An msgspec `enc_hook`: a numpy scalar as its Python number; TypeError for any other unencodable value."""
    plain = plain_number(value)
    if plain is value:
        raise TypeError(f"{type(value).__name__} is not a JSON value")
    return plain
