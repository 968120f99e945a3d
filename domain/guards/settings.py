"""Each guard's settings as a frozen Struct, validated on construction (GUARDS.md; thresholds in policy.py)."""

from __future__ import annotations

from typing import Literal

import msgspec

from ..errors import UsageError

GUARD_MODES = ("gate", "monitor")
Mode = Literal["gate", "monitor"]


def _fail(field: str, value: object, rule: str) -> UsageError:
    return UsageError("E202", f"guard setting {field} is {value!r}", f"it must be {rule}")


def _require(ok: bool, field: str, value: object, rule: str) -> None:
    if not ok:
        raise _fail(field, value, rule)


def _probability(field: str, value: float) -> None:
    _require(0.0 < value < 1.0, field, value, "a probability in (0, 1)")


def _non_negative(field: str, value: float) -> None:
    _require(value >= 0, field, value, ">= 0")


def _choice(field: str, value: object, choices: tuple[object, ...]) -> None:
    _require(value in choices, field, value, f"one of {', '.join(map(str, choices))}")


class _Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mode: Mode

    def _check_mode(self, guard: str) -> None:
        _choice(f"{guard}.mode", self.mode, GUARD_MODES)


class InvariantsSettings(_Settings, frozen=True):
    """Structural checks; `report_limit` offending names are listed per check."""

    report_limit: int

    def __post_init__(self) -> None:
        self._check_mode("invariants")
        _require(self.report_limit >= 1, "invariants.report_limit", self.report_limit, ">= 1")


class SpectralSettings(_Settings, frozen=True):
    """σ_max change per matrix: deadband on |ln σ_s/σ_b|, a robust per-family z tested at `alpha` under
    `correction`, `max_caps` violations allowed; σ_max the exact spectrum's top value when `power_max_iter` is 0 (the
    default since 0.3.7), else power iteration to `power_tol` within `power_max_iter` iterations, kept where it
    agrees with that value to 10·`power_tol` (docs/assurance/guards.md §1)."""

    deadband: float
    min_effect: float
    z_floor: float
    min_family_size: int
    correction: Literal["bh", "bonferroni"]
    alpha: float
    max_caps: int
    top_k: int
    repair: bool
    power_tol: float
    power_max_iter: int

    def __post_init__(self) -> None:
        self._check_mode("spectral")
        _choice("spectral.correction", self.correction, ("bh", "bonferroni"))
        _require(isinstance(self.repair, bool), "spectral.repair", self.repair, "true or false")
        for field in ("deadband", "min_effect", "max_caps", "top_k"):
            _non_negative(f"spectral.{field}", getattr(self, field))
        _require(self.z_floor > 0.0, "spectral.z_floor", self.z_floor, "> 0")
        _require(self.min_family_size >= 2, "spectral.min_family_size", self.min_family_size, ">= 2")
        _probability("spectral.alpha", self.alpha)
        _require(0.0 < self.power_tol < 1.0, "spectral.power_tol", self.power_tol, "in (0, 1)")
        _require(self.power_max_iter >= 0, "spectral.power_max_iter", self.power_max_iter, ">= 0 (0: the exact σ)")


class FamilyEpsilon(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The RMT tolerance ε_f of each weight family."""

    attn: float
    embed: float
    ffn: float
    other: float

    def __post_init__(self) -> None:
        for family in self.__struct_fields__:
            _require(getattr(self, family) > 0.0, f"rmt.epsilon.{family}", getattr(self, family), "> 0")

    def of(self, family: str) -> float:
        """ε of `family` (ValueError for a family outside attn|embed|ffn|other)."""
        if family not in self.__struct_fields__:
            raise ValueError(f"unknown weight family {family!r}")
        value: float = getattr(self, family)
        return value


class RmtSettings(_Settings, frozen=True):
    """Marchenko–Pastur edge: per-family ε on |ln e_s/e_b|, outlier-count slack `k_floor`, `max_violations`
    allowed; exact spectra up to `exact_max_dim`, outliers beyond a Tracy–Widom allowance."""

    epsilon: FamilyEpsilon
    k_floor: int
    outlier_tw_quantile: float
    max_violations: int
    exact_max_dim: int

    def __post_init__(self) -> None:
        self._check_mode("rmt")
        for field in ("k_floor", "outlier_tw_quantile", "max_violations"):
            _non_negative(f"rmt.{field}", getattr(self, field))
        _require(self.exact_max_dim >= 1, "rmt.exact_max_dim", self.exact_max_dim, ">= 1")


class VarianceSettings(_Settings, frozen=True):
    """VE: scales clamp(std_b/std_s) at the `targets` taps, kept beyond `deadband`/`min_abs_adjust`, moved at
    most `max_scale_step`; enabled by an A/B interval (`sided`, `alpha`) beyond `min_effect`."""

    targets: Literal["changed", "all_ffn"]
    clamp: tuple[float, float]
    deadband: float
    min_abs_adjust: float
    max_scale_step: float
    sided: Literal["one", "two"]
    min_effect: float
    alpha: float
    min_calibration_windows: int

    def __post_init__(self) -> None:
        self._check_mode("variance")
        _choice("variance.targets", self.targets, ("changed", "all_ffn"))
        _choice("variance.sided", self.sided, ("one", "two"))
        lo, hi = self.clamp
        _require(0.0 < lo <= 1.0 <= hi, "variance.clamp", list(self.clamp), "ordered: 0 < low <= 1 <= high")
        for field in ("deadband", "min_abs_adjust", "max_scale_step", "min_effect"):
            _non_negative(f"variance.{field}", getattr(self, field))
        _probability("variance.alpha", self.alpha)
        windows = self.min_calibration_windows
        _require(windows >= 2, "variance.min_calibration_windows", windows, ">= 2")


AnySettings = InvariantsSettings | SpectralSettings | RmtSettings | VarianceSettings


class GuardSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The settings of every guard of a policy, one field per guard."""

    invariants: InvariantsSettings
    spectral: SpectralSettings
    rmt: RmtSettings
    variance: VarianceSettings

    def of(self, guard: str) -> AnySettings:
        """The settings of the guard named `guard` (ValueError for an unknown name)."""
        if guard not in self.__struct_fields__:
            raise ValueError(f"unknown guard {guard!r}")
        settings: AnySettings = getattr(self, guard)
        return settings

    def mode_of(self, guard: str) -> Mode:
        """`gate` or `monitor` for the guard named `guard`."""
        return self.of(guard).mode
