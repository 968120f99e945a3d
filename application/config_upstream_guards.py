"""InvarLock 0.3.7 `guards.*` keys translated to ours.

A threshold of the original with an equivalent here (spectral `deadband`, `max_caps`,
`multiple_testing.{method, alpha}`; rmt `epsilon_by_family`; variance `discovery.*`, `gating.*`, `alpha`,
`clamp`) becomes the same key of our settings; the policy accepts it only when it equals the tier's value
(domain/policy.py: thresholds live in the tier), so a config that states its thresholds runs unchanged or
fails naming the difference. Keys whose statistic does not exist here (the 0.3.7 spectral z-caps per family,
a scalar RMT epsilon, the VE calibration knobs) are refused with our nearest setting.
"""

from __future__ import annotations

from invarlock.domain.errors import UsageError

from .config_upstream_rules import Section, drop_if, number, refuse, rename

_SIDED = {"one-sided": "one", "two-sided": "two", "one": "one", "two": "two"}
_FFN_OUTPUT_TAPS = ("mlp.c_proj", "mlp.down_proj", "down_proj", "mlp.dense_4h_to_h", "mlp.fc2")
_SPECTRAL_TEST = "the tier's spectral test (per-matrix robust z at guards.spectral.alpha / correction)"
_VE_KNOB = "the tier's variance settings (guards.variance: deadband, min_effect, sided, alpha, clamp)"


def translate_guards(guards: Section, source: str) -> None:
    """Translate `guards.spectral`, `guards.rmt` and `guards.variance` in place (E201 on a refused key)."""
    for name, step in (("spectral", _spectral), ("rmt", _rmt), ("variance", _variance)):
        section = guards.get(name)
        if isinstance(section, dict):
            step(section, source)


def _spectral(s: Section, source: str) -> None:
    tests = s.pop("multiple_testing", None)
    if isinstance(tests, dict):
        for key in set(tests) - {"method", "alpha"}:
            refuse(tests, "guards.spectral.multiple_testing", key, "the count of tested matrices (automatic)", source)
        _pin(s, "guards.spectral", "correction", ("multiple_testing.method", tests.get("method")), source)
        _pin(s, "guards.spectral", "alpha", ("multiple_testing.alpha", number(tests.get("alpha"))), source)
    elif tests is not None:
        raise UsageError("E201", f"{source}: guards.spectral.multiple_testing must be a mapping", "method, alpha")
    for key in ("deadband", "max_caps"):
        if key in s:
            s[key] = number(s[key])
    for key in ("sigma_quantile", "family_caps", "scope"):
        refuse(s, "guards.spectral", key, _SPECTRAL_TEST, source)
    drop_if(s, "guards.spectral", "max_spectral_norm", (None,), "there is no absolute clamp: use null", source)
    hint = "the subject is compared with the baseline, never with its own preview: use true"
    drop_if(s, "guards.spectral", "ignore_preview_inflation", (True,), hint, source)


def _rmt(r: Section, source: str) -> None:
    written = "epsilon_by_family" if "epsilon_by_family" in r else "epsilon"  # the file's key, for the message
    rename(r, "guards.rmt", "epsilon_by_family", "epsilon", source)
    if "epsilon" in r and not isinstance(r["epsilon"], dict):
        raise UsageError(
            "E201",
            f"{source}: guards.rmt.{written} {r['epsilon']!r} is one number; epsilon is per family here",
            "give epsilon: {attn: .., embed: .., ffn: .., other: ..} (or drop it: the tier sets it)",
        )
    if isinstance(r.get("epsilon"), dict):
        r["epsilon"] = {k: number(v) for k, v in r["epsilon"].items()}
    for key in ("deadband", "margin"):
        refuse(r, "guards.rmt", key, "guards.rmt.epsilon (0.3.7 did not use this key either)", source)


def _variance(v: Section, source: str) -> None:
    if v.get("mode") == "ci":
        del v["mode"]  # 0.3.7's CI-gated VE: the only kind here (guards.variance.mode is gate|monitor)
    _tap(v, source)
    if v.get("targets") == "edited_modules_only":
        v["targets"] = "changed"
    if "sided" in v:  # one-sided and one are one setting: every spelling read as one word before any comparison
        v["sided"] = _sided_word(v["sided"])
    for group in ("discovery", "gating"):
        nested = v.pop(group, None)
        if isinstance(nested, dict):
            for key, value in nested.items():
                value = _sided_word(value) if key == "sided" else value
                if key in v and v[key] != value:
                    raise UsageError(
                        "E201",
                        f"{source}: guards.variance.{group}.{key} and guards.variance.{key} disagree",
                        f"keep only guards.variance.{key}",
                    )
                v[key] = value
        elif nested is not None:
            raise UsageError("E201", f"{source}: guards.variance.{group} must be a mapping", "see the README keys")
    rename(v, "guards.variance", "min_effect_lognll", "min_effect", source)
    if "predictive_one_sided" in v:
        _pin(
            v,
            "guards.variance",
            "sided",
            ("predictive_one_sided", _one_sided(v.pop("predictive_one_sided"), source)),
            source,
        )
    drop_if(v, "guards.variance", "predictive_gate", (True,), "the variance guard always runs its A/B test", source)
    for key in ("deadband", "min_abs_adjust", "max_scale_step", "min_effect", "alpha"):
        if key in v:
            v[key] = number(v[key])
    for key in (
        "max_calib",
        "calibration",
        "seed",
        "scope",
        "tie_breaker_deadband",
        "absolute_floor_ppl",
        "topk_backstop",
        "max_adjusted_modules",
    ):
        refuse(v, "guards.variance", key, _VE_KNOB, source)


def _tap(v: Section, source: str) -> None:
    tap = v.pop("tap", None)
    if tap is None:
        return
    if not (isinstance(tap, str) and "pre-residual" in tap and any(t in tap for t in _FFN_OUTPUT_TAPS)):
        raise UsageError(
            "E201",
            f"{source}: guards.variance.tap {tap!r} (InvarLock 0.3.7) is not supported",
            "the variance guard taps each block's FFN output projection before the residual: drop the key",
        )


def _sided_word(value: object) -> object:
    return _SIDED.get(value, value) if isinstance(value, str) else value


def _one_sided(value: object, source: str) -> str:
    if not isinstance(value, bool):  # "yes", 1 or "on" were read as two-sided, the opposite of what was meant
        raise UsageError(
            "E201", f"{source}: guards.variance.predictive_one_sided {value!r} is not a boolean", "write true or false"
        )
    return "one" if value else "two"


def _pin(section: Section, where: str, key: str, written: tuple[str, object], source: str) -> None:
    """Set `key` from the 0.3.7 key `written` (its name, its value translated); E201 when the file also gives `key`
    another value (one of the two was dropped unsaid, and only one of them was checked against the tier)."""
    name, value = written
    if value is None:
        return
    if key in section and section[key] != value:
        raise UsageError("E201", f"{source}: {where}.{name} and {where}.{key} disagree", f"keep only {where}.{key}")
    section[key] = value
