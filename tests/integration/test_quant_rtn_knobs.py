"""quant_rtn's knobs for the common jobs and InvarLock 0.3.7 plans: a shorter last group (int4 group-128 on a
576-wide input), `clamp_ratio` (row quantile clipping) and `max_modules`, checked against numpy recipes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from invarlock.adapters.quant_rtn import QuantRTNEdit, fake_quantize
from invarlock.domain.quant_rtn_plan import MAX_GROUP_SIZE, resolve_plan

pytestmark = pytest.mark.model


def numpy_rtn(rows: np.ndarray, bits: int, group: int) -> np.ndarray:
    """Symmetric round-to-nearest per row and per group of `group` columns, the last group shorter."""
    qmax = 2 ** (bits - 1) - 1
    out = np.empty_like(rows)
    for start in range(0, rows.shape[1], group):
        block = rows[:, start : start + group]
        scale = np.abs(block).max(axis=1, keepdims=True) / np.float32(qmax)
        scale = np.where(scale > 0, scale, np.float32(1))
        out[:, start : start + group] = np.clip(np.round(block / scale), -qmax, qmax) * scale
    return out


def test_a_group_size_that_does_not_divide_the_row_gives_a_shorter_last_group() -> None:
    rows = np.random.default_rng(3).standard_normal((5, 10)).astype(np.float32) * 0.02
    rows[0, 9] = 0.5  # an outlier in the short last group must not widen the other groups' scales
    quantized = fake_quantize(rows, resolve_plan({"bits": 4, "group_size": 4}))

    np.testing.assert_allclose(quantized, numpy_rtn(rows, 4, 4), rtol=1e-6, atol=0)
    assert len(np.unique(quantized[0, :8])) > 2  # the first groups keep their own, finer steps
    np.testing.assert_array_equal(
        quantized[:, :8], fake_quantize(np.ascontiguousarray(rows[:, :8]), resolve_plan({"bits": 4, "group_size": 4}))
    )


def test_a_group_longer_than_the_row_is_the_whole_row() -> None:
    """A group_size above the row length quantizes each row as one group, without padding it out to the group
    (the largest one accepted would have padded each row to 8 GB)."""
    rows = np.random.default_rng(4).standard_normal((3, 10)).astype(np.float32)
    whole = fake_quantize(rows, resolve_plan({"bits": 4}))
    for longer in (11, MAX_GROUP_SIZE):
        np.testing.assert_array_equal(fake_quantize(rows, resolve_plan({"bits": 4, "group_size": longer})), whole)


def test_clamp_ratio_clips_each_row_to_its_interpolated_quantiles_before_the_absmax() -> None:
    rows = np.random.default_rng(5).standard_normal((4, 257)).astype(np.float32)
    rows[:, 0] = [9.0, -9.0, 7.0, -7.0]  # one outlier per row
    ratio = 0.05
    quantized = fake_quantize(rows, resolve_plan({"bits": 8, "clamp_ratio": ratio}))

    low = np.quantile(rows.astype(np.float64), ratio / 2, axis=1, keepdims=True)
    high = np.maximum(np.quantile(rows.astype(np.float64), 1 - ratio / 2, axis=1, keepdims=True), 1e-8)
    clipped = np.clip(rows, low, high).astype(np.float32)
    step = np.abs(clipped).max(axis=1, keepdims=True) / 127
    np.testing.assert_allclose(np.abs(quantized).max(axis=1), np.abs(clipped).max(axis=1), rtol=1e-5)
    assert bool((np.abs(quantized - clipped) <= step / 2 * (1 + 1e-4)).all())
    assert bool((np.abs(quantized[:, 0]) < 7.0).all())


def test_int4_group_128_with_max_modules_on_the_demo_model(editable_demo_model: Any) -> None:
    """The common job on SmolLM2-135M: 576-wide inputs split 128+128+128+128+64; `max_modules` keeps the
    first 12 attention weights (blocks 0-2) in weight order and leaves block 3 untouched."""
    model = editable_demo_model
    first, later = "model.layers.2.self_attn.o_proj.weight", "model.layers.3.self_attn.q_proj.weight"
    before = {n: model.module.get_parameter(n).detach().clone().numpy() for n in (first, later)}
    outcome = QuantRTNEdit().apply(model, {"bits": 4, "group_size": 128, "scope": "attn", "max_modules": 12})

    expected = [f"model.layers.{i}.self_attn.{p}" for i in range(3) for p in ("q_proj", "k_proj", "v_proj", "o_proj")]
    assert list(outcome.deltas.modules_changed) == expected
    assert outcome.plan == {"bits": 4, "scope": "attn", "group_size": 128, "clamp_percentile": 0.0, "max_modules": 12}
    assert before[first].shape[1] == 576
    np.testing.assert_allclose(
        model.module.get_parameter(first).detach().numpy(), numpy_rtn(before[first], 4, 128), rtol=1e-6, atol=0
    )
    np.testing.assert_array_equal(model.module.get_parameter(later).detach().numpy(), before[later])
