"""Plain verify holds a certificate's reuse claims (provenance.baseline_scoring, guard_baseline,
variance_baseline) to what a run can state: a forger who edits one and reseals with the project's own functions
gets exit 3 where the claim contradicts the config, the evidence or itself. Whether the source run holds the
named events is verify --events' check (tests/unit/test_baseline_reuse.py)."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EditConfig, ModelConfig, SecondaryConfig
from invarlock.application.services import Services
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c

from tests.unit.conftest import small_config

Doc = dict[str, Any]
HASH = "ab" * 32


def _request(factor: float, measure: bool | None = False) -> CertifyRequest:
    """`invarlock run` of the fake with FFN taps: one FFN down-projection scaled by `factor`."""
    edit = EditConfig(name="fake_weight", plan={"weight": "ffn.2.down", "factor": factor})
    cfg = msgspec.structs.replace(small_config(edit), model=ModelConfig(id="ve_base"))
    r = msgspec.structs.replace
    cfg = r(cfg, eval=r(cfg.eval, secondary=SecondaryConfig(measure=measure)))
    return CertifyRequest("run", cfg, None, tier="balanced", profile="dev")


@pytest.fixture
def reused(services: Services, store: Any) -> Doc:
    """The second run of two on one baseline: its baseline scores, guard measurements and taps are copies."""
    indexed = dataclasses.replace(services, index=store)
    certify_edit(_request(0.9), indexed)
    doc: Doc = json.loads(c.to_bytes(certify_edit(_request(0.8), indexed).certificate))
    p = doc["provenance"]
    assert all(s["reused"] for s in p["baseline_scoring"]) and p["guard_baseline"] and p["variance_baseline"]
    return doc


def _verified(doc: Doc) -> tuple[int, str]:
    report = verify_certificate(c.seal(c.from_bytes(json.dumps(doc).encode())))
    [check] = [ch for ch in report.checks if ch.name == "provenance"]
    return report.exit_code, "" if check.ok else check.detail


def _edit(change: Callable[[Doc], None]) -> Callable[[Doc], Doc]:
    def forge(doc: Doc) -> Doc:
        forged = copy.deepcopy(doc)
        change(forged)
        return forged

    return forge


def _scoring(doc: Doc) -> list[Doc]:
    scoring: list[Doc] = doc["provenance"]["baseline_scoring"]
    return scoring


FORGERIES: dict[str, tuple[Callable[[Doc], None], str]] = {
    "--no-reuse in the config": (
        lambda d: d["provenance"]["config"]["eval"].update(reuse=False),
        "says the baseline's scores were copied, yet the run config says eval.reuse: false",
    ),
    "an arm that was not scored": (lambda d: _scoring(d)[0].update(arm="calibration"), "is not an arm the run scored"),
    "an arm twice": (lambda d: _scoring(d)[1].update(arm="preview"), "names an arm twice"),
    "the run as its own source": (
        lambda d: _scoring(d)[0].update(source_run_id=d["run_id"]),
        "the run cannot read its own stream as an earlier run's",
    ),
    "no source events": (lambda d: _scoring(d)[0].update(source_events=[]), "names no source events"),
    "an event twice": (
        lambda d: _scoring(d)[0]["source_events"].append(dict(_scoring(d)[0]["source_events"][-1])),
        "are not distinct, ascending and >= 0",
    ),
    "a hash that is not one": (
        lambda d: _scoring(d)[0]["source_events"][0].update(hash="XYZ"),
        "is not 64 lowercase hex digits",
    ),
    "copied scores said rescored": (
        lambda d: _scoring(d)[0].update(reused=False),
        "a baseline scored again states why (reason), and no scoring key or source events",
    ),
    "copied scores with a reason": (
        lambda d: _scoring(d)[0].update(reason="x"),
        "name their scoring key, and no reason",
    ),
    "guard measurements read from the run itself": (
        lambda d: d["provenance"]["guard_baseline"].update(source_run_id=d["run_id"]),
        "provenance.guard_baseline: the run cannot read its own stream",
    ),
    "taps read with --no-reuse": (
        lambda d: (d["provenance"].pop("baseline_scoring"), d["provenance"]["config"]["eval"].update(reuse=False)),
        "provenance.guard_baseline: read from run",
    ),
}


@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_a_reuse_claim_no_run_makes_is_an_integrity_failure(reused: Doc, case: str) -> None:
    change, words = FORGERIES[case]
    honest = _verified(reused)
    assert honest[0] in (0, 1) and honest[1] == "", honest  # a verdict (the 0.8 scale may fail it), no failed check
    code, detail = _verified(_edit(change)(reused))
    assert code == 3 and words in detail, detail


def test_copied_baseline_scores_beside_paired_measures_are_refused(services: Services) -> None:
    """Paired measures (KL, top-1) need both models' logits: a run measuring them never copies baseline scores."""
    doc: Doc = json.loads(c.to_bytes(certify_edit(_request(0.9, measure=None), services).certificate))
    assert doc["evidence"]["preview"]["comparisons"] and "baseline_scoring" not in doc["provenance"]
    claim = {"arm": "preview", "source_run_id": "run-0", "reused": True, "scoring_key": "k", "source_events": []}
    doc["provenance"]["baseline_scoring"] = [{**claim, "source_events": [{"seq": 3, "hash": HASH}]}]
    code, detail = _verified(doc)
    assert code == 3 and "yet the arm has paired measures" in detail, detail
