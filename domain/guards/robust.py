"""Robust location/scale helpers shared by the weight guards."""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826  # 1/Φ⁻¹(3/4): makes the MAD a consistent estimator of a normal standard deviation


def robust_z(values: np.ndarray, z_floor: float) -> np.ndarray:
    """(x − median) / max(1.4826·MAD, z_floor) for one family's values."""
    x = np.asarray(values, dtype=np.float64)
    center = float(np.median(x))
    scale = max(MAD_TO_SIGMA * float(np.median(np.abs(x - center))), z_floor)
    return np.asarray((x - center) / scale)


def top_by(items: list[dict[str, object]], key: str, limit: int) -> list[dict[str, object]]:
    """The `limit` items with the largest |item[key]| (ties broken by name), skipping missing values."""
    present = [i for i in items if isinstance(i.get(key), float | int)]
    present.sort(key=lambda i: (-abs(float(i[key])), str(i["name"])))  # type: ignore[arg-type]
    return present[:limit]
