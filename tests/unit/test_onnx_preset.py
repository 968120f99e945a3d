"""The ONNX int8 preset parses as a run config, routes models by `adapter: auto` and carries no edit (the subject
is certified as given)."""

from __future__ import annotations

from pathlib import Path

import yaml
from invarlock.application.config import parse_config

PRESET = Path(__file__).resolve().parents[2] / "configs" / "presets" / "onnx" / "int8_vs_hf.yaml"


def test_the_onnx_int8_preset_is_a_valid_certify_preset_with_auto_routing_and_no_edit() -> None:
    cfg = parse_config(yaml.safe_load(PRESET.read_text(encoding="utf-8")), source=PRESET.name)
    assert cfg.model.adapter == "auto" and cfg.model.dtype == "float32"
    assert cfg.edit is None and cfg.eval.metric.kind == "ppl_causal"
    assert cfg.profile == "ci" and cfg.auto.tier == "balanced"
    assert "spectral" in cfg.guards.order and "variance" in cfg.guards.order
