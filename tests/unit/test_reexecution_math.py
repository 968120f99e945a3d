"""The audit's pure arithmetic: the recipient's sample, the detection power bound, the comparison rule."""

from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from invarlock.domain.model import ModelIdentity
from invarlock.domain.reexecution import (
    BUILD_KEYS,
    FORWARD_KEYS,
    agrees,
    build_differences,
    choose_sample,
    compare_tree,
    detection_power,
    relative_difference,
)


@given(st.sets(st.integers(0, 10_000), min_size=1, max_size=200), st.integers(1, 250), st.integers(0, 2**63 - 1))
def test_a_sample_is_a_sorted_subset_of_the_requested_size_and_repeats_with_its_seed(ids, size, seed):
    drawn = choose_sample(list(ids), size, seed, "arm:final")
    assert drawn == sorted(drawn) and set(drawn) <= ids
    assert len(drawn) == min(size, len(ids))
    assert drawn == choose_sample(sorted(ids, reverse=True), size, seed, "arm:final")


def test_all_means_every_window_and_seeds_or_labels_change_the_draw():
    ids = list(range(500))
    assert choose_sample(ids, None, 1, "x") == ids
    draws = {tuple(choose_sample(ids, 16, seed, label)) for seed in (1, 2) for label in ("arm:preview", "arm:final")}
    assert len(draws) == 4


@given(st.floats(0.0, 1.0), st.integers(0, 2000))
def test_detection_power_is_one_minus_the_chance_that_every_draw_misses(fraction, sample):
    expected = 1.0 - math.prod([1.0 - fraction] * sample)
    assert detection_power(fraction, sample) == pytest.approx(expected, abs=1e-12)


def test_detection_power_of_16_windows_and_its_bounds():
    assert detection_power(0.05, 16) == pytest.approx(1 - 0.95**16)
    assert detection_power(0.05, 16) > detection_power(0.01, 16) > 0.0
    assert detection_power(1.0, 1) == 1.0 and detection_power(0.5, 0) == 0.0
    with pytest.raises(ValueError):
        detection_power(1.5, 3)


@given(st.floats(1.0, 1e6), st.floats(-0.5, 0.5))
def test_tolerance_accepts_differences_up_to_its_bound_and_exact_accepts_none(value, shift):
    other = value * (1.0 + shift * 1e-4)
    assert agrees(value, other, exact=False, rel_tol=1e-4) == (relative_difference(value, other) <= 1e-4)
    assert agrees(value, other, exact=True, rel_tol=1e-4) == (value == other)


def test_a_0_1_percent_alteration_is_ten_times_the_cross_build_tolerance():
    assert not agrees(400.0, 400.0 * 1.001, exact=False, rel_tol=1e-4)
    assert relative_difference(400.0, 400.0 * 1.001) == pytest.approx(1e-3 / 1.001)


def test_compare_tree_names_the_first_differing_field_and_skips_path_fields_across_builds():
    stated = {"name": "w", "sigma": 2.0, "iterations": [5, 6], "sides": [{"edge": 1.0}, {"edge": 3.0}]}
    same_values = {**stated, "iterations": [9, 9]}
    assert compare_tree(stated, same_values, exact=False, rel_tol=1e-4) == (None, 0.0)
    assert compare_tree(stated, same_values, exact=True, rel_tol=1e-4)[0] == ".iterations[0]"
    altered = {**stated, "sides": [{"edge": 1.0}, {"edge": 3.003}]}
    where, diff = compare_tree(stated, altered, exact=False, rel_tol=1e-4)
    assert where == ".sides[1].edge" and diff == pytest.approx(0.003 / 3.003)
    assert compare_tree(stated, {**stated, "name": "v"}, exact=False, rel_tol=1)[0] == ".name"


def test_build_differences_name_each_key_that_changes_the_bits():
    env = {"python": "3.11.7", "torch": "2.13.0", "numpy": "2.0", "platform": "linux", "transformers": "4"}
    fields = {name: "x" for name in ModelIdentity.__struct_fields__}
    model = ModelIdentity(**{**fields, "param_count": 1, "dtype": "float32", "device": "cpu"})
    assert build_differences(env, dict(env), model, model) == []
    on_gpu = msgspec.structs.replace(model, device="cuda:0")
    diffs = build_differences(env, {**env, "torch": "2.14.0"}, model, on_gpu)
    assert diffs == ["torch 2.13.0 -> 2.14.0", "device cpu -> cuda:0"]
    placed = msgspec.structs.replace(model, device_map={"": "cpu"})
    whole = msgspec.structs.replace(model, device_map=None)
    assert build_differences(env, dict(env), placed, whole) == ["device_map {'': 'cpu'} -> None"]


def test_the_guards_blas_thread_count_is_part_of_the_build():
    env = {"python": "3.11.7", "guard_blas_threads": "1"}
    fields = {name: "x" for name in ModelIdentity.__struct_fields__}
    model = ModelIdentity(**{**fields, "param_count": 1, "dtype": "float32", "device": "cpu"})
    assert build_differences(env, {**env, "cpu_count": "64"}, model, model) == []
    assert build_differences(env, {**env, "guard_blas_threads": "4"}, model, model) == ["guard_blas_threads 1 -> 4"]
    before_pinning = {"python": "3.11.7"}  # a run measured with the machine's default threads
    assert build_differences(before_pinning, env, model, model) == ["guard_blas_threads unrecorded -> 1"]


def test_only_the_guard_keys_leave_the_forward_passes_exact():
    fields = {name: "x" for name in ModelIdentity.__struct_fields__}
    model = ModelIdentity(**{**fields, "param_count": 1, "dtype": "float32", "device": "cpu"})
    on_gpu = msgspec.structs.replace(model, device="cuda:0")
    before_pinning = {"python": "3.11.7", "torch": "2.13.0"}
    pinned = {**before_pinning, "guard_blas_threads": "1"}
    upgraded = {**pinned, "torch": "2.14.0"}
    assert build_differences(before_pinning, upgraded, model, on_gpu, keys=FORWARD_KEYS) == [
        "torch 2.13.0 -> 2.14.0",
        "device cpu -> cuda:0",
    ]
    assert build_differences(before_pinning, pinned, model, model, keys=FORWARD_KEYS) == []
    assert build_differences(before_pinning, pinned, model, model) == ["guard_blas_threads unrecorded -> 1"]
    assert set(FORWARD_KEYS) == set(BUILD_KEYS) - {"guard_blas_threads"}
    assert "invarlock" in FORWARD_KEYS  # the tool version: a release may reduce a forward pass otherwise


def test_another_cpu_is_another_build_and_an_unrecorded_cpu_keeps_the_bit_for_bit_rule():
    fields = {name: "x" for name in ModelIdentity.__struct_fields__}
    model = ModelIdentity(**{**fields, "param_count": 1, "dtype": "float32", "device": "cpu"})
    xeon = {"python": "3.11.7", "cpu": "Intel(R) Xeon(R) Processor; avx2 avx512f amx_tile"}
    epyc = {**xeon, "cpu": "AMD EPYC 9R14; avx2 avx512f"}
    assert build_differences(xeon, epyc, model, model) == [f"cpu {xeon['cpu']} -> {epyc['cpu']}"]
    assert build_differences({"python": "3.11.7"}, epyc, model, model) == []  # a run of an earlier release
    assert build_differences(epyc, {"python": "3.11.7"}, model, model) == [f"cpu {epyc['cpu']} -> unrecorded"]
