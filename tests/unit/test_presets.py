"""Every preset under configs/presets/ parses, resolves its policy (window floors of its profile included) and
is documented in the user guide."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from invarlock.application.certification.run_request import CertifyRequest, policy_for
from invarlock.application.config import parse_config

ROOT = Path(__file__).parents[2]
PRESETS = sorted((ROOT / "configs" / "presets").rglob("*.yaml"))


def test_the_common_jobs_have_presets() -> None:
    names = {p.relative_to(ROOT / "configs" / "presets").as_posix() for p in PRESETS}
    assert {
        "causal_lm/wikitext2_512.yaml",
        "causal_lm/quant_rtn_int4_g128.yaml",
        "causal_lm/release_int8.yaml",
        "encoder/quant_rtn_int8.yaml",
    } <= names


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.relative_to(ROOT / "configs" / "presets").as_posix())
def test_preset_parses_resolves_its_policy_and_is_in_the_user_guide(path: Path) -> None:
    cfg = parse_config(yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path))
    profile = cfg.profile or "ci"
    # A preset without an edit is a `certify --preset` preset (e.g. onnx/int8_vs_hf.yaml): the subject comes
    # from the command line; every other preset is a `run` preset of the built-in edit.
    command = "run" if cfg.edit is not None else "certify"
    request = CertifyRequest(command=command, config=cfg, subject=None, tier=cfg.auto.tier, profile=profile)
    policy = policy_for(request)

    assert cfg.edit is None or cfg.edit.name == "quant_rtn"
    assert policy.profile == profile and min(cfg.dataset.preview_n, cfg.dataset.final_n) >= policy.min_windows
    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    assert path.relative_to(ROOT).as_posix() in guide, f"document {path.name} in docs/user-guide.md"
