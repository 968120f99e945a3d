"""Robust location/scale helpers shared by the weight guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import numpy as np


class _Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=_Named)
MAD_TO_SIGMA = 1.4826  # 1/Φ⁻¹(3/4): makes the MAD a consistent estimator of a normal standard deviation


def robust_z(values: np.ndarray, z_floor: float) -> np.ndarray:
    """(x − median) / max(1.4826·MAD, z_floor) for one family's values."""
    x = np.asarray(values, dtype=np.float64)
    center = float(np.median(x))
    scale = max(MAD_TO_SIGMA * float(np.median(np.abs(x - center))), z_floor)
    return np.asarray((x - center) / scale)


def top_by(items: list[T], value: Callable[[T], float | None], limit: int) -> list[T]:
    """The `limit` items with the largest |value(item)| (ties broken by name), skipping items without one."""
    present = [(v, i) for i in items if (v := value(i)) is not None]
    present.sort(key=lambda pair: (-abs(pair[0]), pair[1].name))
    return [item for _, item in present[:limit]]
