"""Plain verify checks a quant_rtn certificate's whole `edit.plan` against its run config (the forger hunt: a
default the edit fills in, changed or dropped, or a key added, with `plan_digest` recomputed, passed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from invarlock.application.verification.verify import verify_certificate
from invarlock.application.verification.verify_fields import edit_plan_digest
from invarlock.domain import certificate as c

RUN_CERT = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "run.cert.json"  # quant_rtn, bits 4

FORGED_PLANS: dict[str, dict[str, Any]] = {
    "a default changed": {"group_size": 32},
    "another clamp": {"clamp_percentile": 99.0},
    "an optional key the config never gave": {"clamp_ratio": 0.01},
    "a key quant_rtn does not know": {"note": "audited"},
}


def _provenance(doc: dict[str, Any]) -> tuple[bool, str, int]:
    report = verify_certificate(c.seal(c.from_bytes(json.dumps(doc).encode())))
    [check] = [ch for ch in report.checks if ch.name == "provenance"]
    return check.ok, check.detail, report.exit_code


def test_an_earlier_releases_quant_rtn_certificate_agrees_with_its_config() -> None:
    ok, detail, code = _provenance(json.loads(RUN_CERT.read_bytes()))
    assert ok and code in (0, 1), detail


@pytest.mark.parametrize("case", sorted(FORGED_PLANS))
def test_a_forged_plan_with_its_digest_recomputed_fails(case: str) -> None:
    doc = json.loads(RUN_CERT.read_bytes())
    doc["edit"]["plan"] |= FORGED_PLANS[case]
    doc["edit"]["plan_digest"] = edit_plan_digest(doc["edit"]["plan"])
    ok, detail, code = _provenance(doc)
    assert not ok and code == 3 and "edit.name or edit.plan is not the run config's edit" in detail, detail


def test_a_dropped_default_fails() -> None:
    doc = json.loads(RUN_CERT.read_bytes())
    del doc["edit"]["plan"]["group_size"]
    doc["edit"]["plan_digest"] = edit_plan_digest(doc["edit"]["plan"])
    ok, detail, code = _provenance(doc)
    assert not ok and code == 3 and "is not the run config's edit" in detail, detail


def _first_module(deltas: dict[str, Any]) -> str:
    return str(deltas["modules_changed"][0])


FORGED_DELTAS = {
    "another bit width": (lambda d: d["bitwidth_map"].update({_first_module(d): 8}), "at the plan's 4 bits"),
    "a module the edit did not list": (lambda d: d["bitwidth_map"].update({"lm_head": 4}), "bitwidth_map is not"),
    "a module listed twice": (lambda d: d["modules_changed"].append(_first_module(d)), "names a module twice"),
    "more layers than blocks": (lambda d: d.update(layers_modified=999), "layers_modified 999 is not the 30 blocks"),
    "fewer layers than blocks": (lambda d: d.update(layers_modified=1), "layers_modified 1 is not the 30 blocks"),
    "fewer parameters than modules": (lambda d: d.update(params_changed=5), "params_changed 5 is not between"),
}


@pytest.mark.parametrize("case", sorted(FORGED_DELTAS))
def test_deltas_quant_rtn_cannot_state_fail_without_the_event_store(case: str) -> None:
    """edit.deltas is stated, yet held to what quant_rtn states (the edits hunt: a bit width of 4 under a plan
    of 8 bits, or 999 layers, verified without --events)."""
    doc = json.loads(RUN_CERT.read_bytes())
    forge, said = FORGED_DELTAS[case]
    forge(doc["edit"]["deltas"])
    ok, detail, code = _provenance(doc)
    assert not ok and said in detail and code == 3, detail
