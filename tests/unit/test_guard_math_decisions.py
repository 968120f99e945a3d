"""The spectral and RMT decisions (GUARDS.md §2–3) on hand-built per-matrix records, against the written-out
rules."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain.guards import rmt, spectrum
from invarlock.domain.guards.settings import SpectralSettings
from invarlock.domain.policy import resolve_policy
from scipy.stats import norm

from tests.unit import guard_json
from tests.unit.test_guard_math_spectrum import _reference_bh, _reference_bonferroni

FAST = settings(max_examples=60, deadline=None, derandomize=True)
SLOW = settings(max_examples=25, deadline=None, derandomize=True)


def _guard(guard: str, tier: str = "balanced") -> Any:
    return resolve_policy(tier, "ci").guards.of(guard)


# ---------------------------------------------------------------------------------------------------------
# 4. Spectral guard decision
# ---------------------------------------------------------------------------------------------------------


def _srow(name: str, family: str, sigma_b: float, sigma_s: float) -> dict[str, Any]:
    return {
        "name": name,
        "family": family,
        "sigma_baseline": sigma_b,
        "sigma_subject": sigma_s,
        "method": ["power", "power"],
        "iterations": [10, 10],
        "residual": [1e-7, 1e-7],
    }


def _family(family: str, count: int, seed: int, noise: float = 0.0, shift: float = 0.0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        b = float(rng.uniform(1.0, 40.0))
        rows.append(_srow(f"{family}.{i}", family, b, b * math.exp(shift + noise * float(rng.standard_normal()))))
    return rows


def _names(outcome: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["reason"] for v in outcome["violations"]}


def test_spectral_identical_sigmas_pass_with_no_violations() -> None:
    rows = _family("attn", 30, 1) + _family("ffn", 20, 2) + _family("embed", 2, 3)
    outcome = guard_json.spectral_evaluate(rows, _guard("spectral"))
    assert outcome["verdict"] == "pass"
    assert outcome["violations"] == []
    assert outcome["summary"] == {"matrices": 52, "caps_applied": 0, "max_caps": 0, "stable": True}
    assert all(f["violations"] == 0 and f["max_abs_r"] == 0.0 for f in outcome["families"].values())
    assert outcome["repairs"] == {}


def test_spectral_one_matrix_times_three_is_the_only_deadband_violation_and_fails_balanced() -> None:
    rows = _family("attn", 30, 4) + _family("ffn", 10, 5)
    rows[7]["sigma_subject"] = 3.0 * rows[7]["sigma_baseline"]
    outcome = guard_json.spectral_evaluate(rows, _guard("spectral"))
    assert _names(outcome) == {"attn.7": "deadband"}
    assert outcome["violations"][0]["r"] == pytest.approx(math.log(3.0))
    assert outcome["summary"]["caps_applied"] == 1
    assert outcome["verdict"] == "fail"
    assert outcome["families"]["attn"]["violations"] == 1
    assert outcome["families"]["ffn"]["violations"] == 0
    assert outcome["top"][0]["name"] == "attn.7"
    # Aggressive allows two caps (and its deadband 0.15 still catches ln 3).
    aggressive = guard_json.spectral_evaluate(rows, _guard("spectral", "aggressive"))
    assert _names(aggressive) == {"attn.7": "deadband"}
    assert aggressive["verdict"] == "pass"


@FAST
@given(st.integers(min_value=4, max_value=40), st.sampled_from([0.05, -0.05]), st.integers(0, 2**32 - 1))
def test_spectral_family_z_flags_a_moderate_shift_between_min_effect_and_deadband(
    size: int, shift: float, seed: int
) -> None:
    rows = _family("ffn", size, seed, noise=1e-4)
    rows[0]["sigma_subject"] = rows[0]["sigma_baseline"] * math.exp(shift)
    outcome = guard_json.spectral_evaluate(rows, _guard("spectral"))
    assert _names(outcome) == {"ffn.0": "family_z"}
    assert outcome["verdict"] == "fail"
    assert abs(outcome["violations"][0]["z"]) > 4.0


def test_spectral_family_smaller_than_min_family_size_uses_the_absolute_rule_only() -> None:
    settings_ = _guard("spectral")
    assert settings_.min_family_size == 4
    small = _family("embed", 3, 8, noise=1e-4)
    small[0]["sigma_subject"] = small[0]["sigma_baseline"] * math.exp(0.05)
    rows = small + _family("attn", 12, 9, noise=1e-4)  # another, tested family beside it
    outcome = guard_json.spectral_evaluate(rows, settings_)
    assert outcome["violations"] == []
    assert not any(item["family"] == "embed" for item in outcome["top"])
    assert outcome["families"]["embed"]["max_abs_z"] is None
    assert outcome["families"]["embed"]["max_abs_r"] == pytest.approx(0.05)
    # A fourth member makes the family testable, and the same 0.05 shift is then flagged.
    fourth = _srow("embed.3", "embed", 5.0, 5.0 * (1 + 1e-5))
    assert _names(guard_json.spectral_evaluate([*rows, fourth], settings_)) == {"embed.0": "family_z"}
    # The absolute rule still applies to the small family.
    small[1]["sigma_subject"] = small[1]["sigma_baseline"] * 1.2
    assert _names(guard_json.spectral_evaluate(small + rows[3:], settings_)) == {"embed.1": "deadband"}


@pytest.mark.parametrize("tier", ["conservative", "balanced", "aggressive"])
def test_spectral_shift_below_min_effect_is_never_flagged_even_with_a_huge_z(tier: str) -> None:
    # The family sits just inside the tier's deadband (r = −0.09, conservative −0.04) with tiny noise; one
    # member at r = +0.015 lies 5–10 z floors away from the family median.
    settings_ = _guard("spectral", tier)
    center = -0.04 if tier == "conservative" else -0.09
    rows = _family("attn", 30, 10, noise=1e-5, shift=center)
    rows[5]["sigma_subject"] = rows[5]["sigma_baseline"] * math.exp(0.015)
    outcome = guard_json.spectral_evaluate(rows, settings_)
    z = next(item["z"] for item in outcome["top"] if item["name"] == "attn.5")
    assert abs(z) > 5.0  # certainly significant at every tier's alpha …
    assert outcome["violations"] == []  # … yet below min_effect 0.02
    # With a vanishing z floor the z is astronomically large and still nothing is flagged.
    outcome = guard_json.spectral_evaluate(rows, msgspec.structs.replace(settings_, z_floor=1e-9))
    assert abs(next(item["z"] for item in outcome["top"] if item["name"] == "attn.5")) > 1e3
    assert outcome["violations"] == []


def test_spectral_repair_caps_growth_at_baseline_times_one_plus_deadband() -> None:
    settings_ = msgspec.structs.replace(_guard("spectral"), repair=True)
    rows = _family("attn", 20, 12)
    rows[2]["sigma_subject"] = 3.0 * rows[2]["sigma_baseline"]  # grown: repaired
    rows[9]["sigma_subject"] = 0.5 * rows[9]["sigma_baseline"]  # shrunk: a violation, but not repaired
    outcome = guard_json.spectral_evaluate(rows, settings_)
    assert set(_names(outcome)) == {"attn.2", "attn.9"}
    expected = rows[2]["sigma_baseline"] * (1 + settings_.deadband) / rows[2]["sigma_subject"]
    assert outcome["repairs"] == {"attn.2": pytest.approx(expected, rel=1e-12)}
    assert outcome["repairs"]["attn.2"] == pytest.approx(1.1 / 3.0)
    assert guard_json.spectral_evaluate(rows, _guard("spectral"))["repairs"] == {}


def test_spectral_zero_sigma_is_a_violation() -> None:
    rows = _family("ffn", 6, 13)
    rows[1]["sigma_subject"] = 0.0
    outcome = guard_json.spectral_evaluate(rows, _guard("spectral"))
    assert _names(outcome) == {"ffn.1": "zero_sigma"}
    assert outcome["violations"][0]["r"] is None


@FAST
@given(st.integers(min_value=0, max_value=60), st.integers(0, 2**32 - 1))
def test_spectral_top_holds_at_most_top_k_entries_sorted_by_abs_z(size: int, seed: int) -> None:
    settings_ = _guard("spectral")
    rows = _family("attn", size, seed, noise=0.03) + _family("ffn", 3, seed + 1, noise=0.03)
    outcome = guard_json.spectral_evaluate(rows, settings_)
    top = outcome["top"]
    scored_z = [abs(item["z"]) for item in top]
    tested = size if size >= settings_.min_family_size else 0
    assert len(top) == min(settings_.top_k, tested)
    assert scored_z == sorted(scored_z, reverse=True)
    assert all(item["family"] == "attn" for item in top)
    if top:
        # Nothing left out has a larger |z| than the smallest one kept.
        all_z = sorted(abs(v) for v in _reference_z(rows, settings_).values() if v is not None)
        assert scored_z[-1] == pytest.approx(all_z[-len(top)])


def _reference_z(rows: list[dict[str, Any]], settings_: SpectralSettings) -> dict[str, float | None]:
    """Robust z within family (GUARDS.md §2), written out directly."""
    r = {row["name"]: math.log(row["sigma_subject"] / row["sigma_baseline"]) for row in rows}
    z: dict[str, float | None] = dict.fromkeys(r)
    for family in {row["family"] for row in rows}:
        names = [row["name"] for row in rows if row["family"] == family]
        if len(names) < settings_.min_family_size:
            continue
        values = sorted(r[name] for name in names)
        med = float(np.median(values))
        mad = float(np.median([abs(x - med) for x in values]))
        scale = max(1.4826 * mad, settings_.z_floor)
        for name in names:
            z[name] = (r[name] - med) / scale
    return z


@st.composite
def _spectral_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for family in ("attn", "ffn", "embed"):
        size = draw(st.integers(min_value=0, max_value=12))
        for i in range(size):
            b = draw(st.floats(min_value=0.5, max_value=50.0))
            r = draw(
                st.one_of(
                    st.floats(min_value=-0.003, max_value=0.003),
                    st.floats(min_value=-0.3, max_value=0.3),
                )
            )
            rows.append(_srow(f"{family}.{i}", family, b, b * math.exp(r)))
    return rows


@FAST
@given(_spectral_rows(), st.sampled_from(["conservative", "balanced", "aggressive"]))
def test_spectral_violations_match_the_written_out_rule(rows: list[dict[str, Any]], tier: str) -> None:
    settings_ = _guard("spectral", tier)
    z = _reference_z(rows, settings_)
    tested = [name for name, value in z.items() if value is not None]
    p = [2 * norm.sf(abs(z[name])) for name in tested]
    reference = _reference_bh if settings_.correction == "bh" else _reference_bonferroni
    significant = dict(zip(tested, reference(p, settings_.alpha) if p else [], strict=True))
    expected = {}
    for row in rows:
        r = math.log(row["sigma_subject"] / row["sigma_baseline"])
        if abs(r) > settings_.deadband:
            expected[row["name"]] = "deadband"
        elif significant.get(row["name"], False) and abs(r) > settings_.min_effect:
            expected[row["name"]] = "family_z"
    outcome = guard_json.spectral_evaluate(rows, settings_)
    assert _names(outcome) == expected
    assert outcome["summary"]["caps_applied"] == len(expected)
    assert outcome["verdict"] == ("pass" if len(expected) <= settings_.max_caps else "fail")
    assert [abs(v["r"]) for v in outcome["violations"]] == sorted(
        (abs(v["r"]) for v in outcome["violations"]), reverse=True
    )


# ---------------------------------------------------------------------------------------------------------
# 5. RMT guard decision
# ---------------------------------------------------------------------------------------------------------


def _side(sigma: float, edge: float, outliers: int) -> dict[str, Any]:
    return {
        "bulk_scale": edge / 50.0,
        "edge": edge,
        "outlier_threshold": edge * 1.02,
        "sigma": sigma,
        "outliers": outliers,
    }


def _rrow(name: str, family: str, base: tuple[float, float, int], subj: tuple[float, float, int]) -> dict[str, Any]:
    return {
        "name": name,
        "family": family,
        "rows": 1000,
        "cols": 600,
        "method": ["mp_median/gram_eigvalsh", "mp_median/gram_eigvalsh"],
        "baseline": _side(*base),
        "subject": _side(*subj),
    }


def _rnames(outcome: dict[str, Any]) -> dict[str, list[str]]:
    return {v["name"]: v["reasons"] for v in outcome["violations"]}


def test_rmt_edge_ratio_change_beyond_the_family_epsilon_is_flagged() -> None:
    settings_ = _guard("rmt")
    eps = settings_.epsilon
    assert (eps.attn, eps.ffn) == (pytest.approx(0.08), pytest.approx(0.10))
    change = math.exp(0.09)  # beyond attn's 0.08, within ffn's 0.10
    rows = [
        _rrow("attn.0", "attn", (12.0, 10.0, 3), (12.0 * change, 10.0, 3)),
        _rrow("ffn.0", "ffn", (12.0, 10.0, 3), (12.0 * change, 10.0, 3)),
        # Rescaling σ and the edge together leaves e unchanged.
        _rrow("ffn.1", "ffn", (12.0, 10.0, 3), (36.0, 30.0, 3)),
        # The edge moving alone changes e just as well.
        _rrow("embed.0", "embed", (12.0, 10.0, 3), (12.0, 10.0 / math.exp(0.13), 3)),
    ]
    outcome = guard_json.rmt_evaluate(rows, settings_)
    assert _rnames(outcome) == {"attn.0": ["edge_ratio"], "embed.0": ["edge_ratio"]}
    judged = {v["name"]: v for v in outcome["violations"]}
    assert judged["attn.0"]["log_edge_ratio"] == pytest.approx(0.09)
    assert judged["embed.0"]["log_edge_ratio"] == pytest.approx(0.13)
    # Ordered by |ln e ratio|.
    assert [v["name"] for v in outcome["violations"]] == ["embed.0", "attn.0"]
    # Conservative halves every epsilon: the ffn change of 0.09 > 0.05 is then flagged too.
    assert set(_rnames(guard_json.rmt_evaluate(rows, _guard("rmt", "conservative")))) == {"attn.0", "ffn.0", "embed.0"}


@pytest.mark.parametrize(
    ("k_b", "k_s", "flagged"),
    [
        (3, 5, False),  # allowed max(2, ⌈0.1·3⌉) = 2
        (3, 6, True),
        (3, 1, False),
        (0, 3, True),
        (45, 50, False),  # allowed max(2, ⌈0.1·45⌉ = 5) = 5
        (45, 51, True),
        (45, 40, False),
        (45, 39, True),
    ],
)
def test_rmt_outlier_count_change_beyond_max_k_floor_ceil_eps_kb_is_flagged(k_b: int, k_s: int, flagged: bool) -> None:
    rows = [_rrow("ffn.0", "ffn", (12.0, 10.0, k_b), (12.0, 10.0, k_s))]
    outcome = guard_json.rmt_evaluate(rows, _guard("rmt"))
    assert _rnames(outcome) == ({"ffn.0": ["outliers"]} if flagged else {})
    assert outcome["verdict"] == ("fail" if flagged else "pass")


def test_rmt_within_both_bounds_has_no_violation_and_zero_edge_is_flagged() -> None:
    rows = [
        _rrow("attn.0", "attn", (12.0, 10.0, 4), (12.0 * math.exp(0.079), 10.0, 6)),
        _rrow("attn.1", "attn", (12.0, 10.0, 4), (12.0 * math.exp(-0.079), 10.0, 2)),
    ]
    assert guard_json.rmt_evaluate(rows, _guard("rmt"))["violations"] == []
    zero = _rrow("other.0", "other", (12.0, 10.0, 4), (0.0, 0.0, 0))
    outcome = guard_json.rmt_evaluate([*rows, zero], _guard("rmt"))
    assert _rnames(outcome) == {"other.0": ["edge_ratio", "outliers"]}
    assert outcome["violations"][0]["log_edge_ratio"] is None


def test_rmt_verdict_fails_iff_violations_exceed_max_violations() -> None:
    ok = [_rrow(f"ffn.{i}", "ffn", (12.0, 10.0, 3), (12.0, 10.0, 3)) for i in range(5)]
    bad = [_rrow(f"attn.{i}", "attn", (12.0, 10.0, 3), (20.0, 10.0, 3)) for i in range(3)]
    aggressive = _guard("rmt", "aggressive")
    assert aggressive.max_violations == 2
    assert guard_json.rmt_evaluate(ok + bad[:2], aggressive)["verdict"] == "pass"
    outcome = guard_json.rmt_evaluate(ok + bad, aggressive)
    assert outcome["verdict"] == "fail"
    assert outcome["summary"] == {"matrices": 8, "violations": 3, "max_violations": 2, "stable": False}
    balanced = _guard("rmt")
    assert guard_json.rmt_evaluate(ok, balanced)["verdict"] == "pass"
    assert guard_json.rmt_evaluate(ok + bad[:1], balanced)["verdict"] == (
        "fail" if balanced.max_violations < 1 else "pass"
    )


def test_rmt_family_table_totals_counts_outliers_and_max_log_edge_ratio() -> None:
    rows = [
        _rrow("attn.0", "attn", (12.0, 10.0, 3), (12.0 * math.exp(0.02), 10.0, 4)),
        _rrow("attn.1", "attn", (12.0, 10.0, 5), (12.0 * math.exp(-0.2), 10.0, 5)),
        _rrow("ffn.0", "ffn", (12.0, 10.0, 7), (12.0, 10.0, 1)),
    ]
    families = guard_json.rmt_evaluate(rows, _guard("rmt"))["families"]
    assert families["attn"] == {
        "count": 2,
        "max_abs_log_edge_ratio": pytest.approx(0.2),
        "outliers_baseline": 8,
        "outliers_subject": 9,
        "violations": 1,
    }
    assert families["ffn"] == {
        "count": 1,
        "max_abs_log_edge_ratio": 0.0,
        "outliers_baseline": 7,
        "outliers_subject": 1,
        "violations": 1,
    }


def test_rmt_measurement_record_round_trips_through_evaluate() -> None:
    w = np.random.default_rng(21).standard_normal((300, 200))
    base, subj = spectrum.measure(w), spectrum.measure(2.0 * w)
    row = rmt.measurement("ffn.0", "ffn", base, subj)
    assert row.baseline.outliers == 0
    assert row.subject.edge_ratio == pytest.approx(row.baseline.edge_ratio, rel=1e-9)
    assert guard_json.rmt_evaluate([row], _guard("rmt"))["verdict"] == "pass"
