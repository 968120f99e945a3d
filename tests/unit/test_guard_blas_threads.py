"""The weight guards' matrix measurements under a pinned BLAS thread count (ports/measurement.py): the same
bits whatever the machine's thread count, the same results in the same order on worker threads as serially,
and certify and the re-execution audit measuring through the pool."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from invarlock.adapters.measurement_threads import ThreadMeasurementPool
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.certification.guard_chain import measure_each, measure_matrix
from invarlock.application.config import ModelConfig
from invarlock.application.services import Services
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionDeps, ReexecutionRequest
from invarlock.domain.guards.spectrum import MatrixMeasure
from invarlock.domain.policy import resolve_policy
from invarlock.ports.measurement import MeasurementPool
from threadpoolctl import threadpool_info

from tests.fakes.measurement import InlineMeasurementPool
from tests.unit.conftest import small_config

# Four seeded matrices of the demo model's shapes, measured in a fresh process; prints a digest of the measures.
_DIGEST = """
import hashlib, sys
from functools import partial
import numpy as np
from invarlock.application.certification.guard_chain import measure_each, measure_matrix
from invarlock.domain.policy import resolve_policy
rng = np.random.default_rng(20261201)
arrays = [rng.standard_normal(s).astype(np.float32) for s in ((1536, 576), (576, 576), (576, 1536), (960, 320))]
pool = None
if sys.argv[1] == "pinned":
    from invarlock.adapters.measurement_threads import ThreadMeasurementPool
    pool = ThreadMeasurementPool()
measures = measure_each(pool, partial(measure_matrix, policy=resolve_policy("balanced", "ci")), arrays)
print(hashlib.sha256(repr(measures).encode()).hexdigest())
"""


def _digest(path: str, openblas_threads: int) -> str:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(openblas_threads)}
    done = subprocess.run(
        [sys.executable, "-c", _DIGEST, path], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_pinned_measurements_are_bit_identical_whatever_the_process_blas_thread_count() -> None:
    assert _digest("pinned", 1) == _digest("pinned", 2)


def test_unpinned_measurements_depend_on_the_blas_thread_count_so_the_pinned_check_is_not_vacuous() -> None:
    one, two = _digest("serial", 1), _digest("serial", 2)
    if one == two:
        pytest.skip("this BLAS reduces in the same order on 1 and 2 threads: the pinned test proves nothing here")
    assert one != two


def _seeded(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    shapes = [(384, 128), (128, 384), (256, 256), (512, 96), (96, 96), (300, 200), (200, 300), (640, 160)]
    return [rng.standard_normal(shapes[i % len(shapes)]).astype(np.float32) for i in range(count)]


def _measure(array: np.ndarray) -> MatrixMeasure:
    return measure_matrix(array, resolve_policy("balanced", "ci"))


def test_the_parallel_pool_returns_exactly_the_serial_pinned_measures_in_order() -> None:
    arrays = _seeded(11)  # more than twice the workers: the bounded window refills
    serial = ThreadMeasurementPool(workers=1).map(_measure, iter(arrays))
    parallel = ThreadMeasurementPool(workers=3).map(_measure, iter(arrays))
    assert parallel == serial
    assert [(m.rows, m.cols) for m in parallel] == [(max(a.shape), min(a.shape)) for a in arrays]


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_measurements_run_on_the_pinned_thread_count_and_the_limit_is_restored_after() -> None:
    before = _blas_threads()
    seen = ThreadMeasurementPool(blas_threads=1, workers=2).map(lambda _i: _blas_threads(), range(4))
    assert seen == [[1] * len(before)] * 4
    assert _blas_threads() == before


def test_a_failing_measurement_propagates_and_restores_the_limit() -> None:
    before = _blas_threads()

    def fail_on_three(i: int) -> int:
        if i == 3:
            raise ValueError("no spectrum")
        return i

    with pytest.raises(ValueError, match="no spectrum"):
        ThreadMeasurementPool(workers=2).map(fail_on_three, range(8))
    assert _blas_threads() == before


def test_without_a_pool_the_measurements_run_serially_in_order() -> None:
    arrays = _seeded(3)
    assert measure_each(None, _measure, arrays) == [_measure(a) for a in arrays]


def _certify(services: Services, pool: MeasurementPool | None) -> Any:
    svc = dataclasses.replace(services, measurements=pool, timer=lambda: 0.0)  # recorded seconds: 0
    request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    return certify_edit(request, svc)


def test_certify_records_the_same_guard_results_on_one_worker_and_on_several(services: Services) -> None:
    one = _certify(services, ThreadMeasurementPool(workers=1)).certificate
    several = _certify(services, ThreadMeasurementPool(workers=3)).certificate
    assert one.guards.spectral is not None and one.guards.spectral.measurements.matrices
    assert one.guards == several.guards


def test_certify_measures_every_weight_pair_through_the_services_pool(services: Services) -> None:
    pool = InlineMeasurementPool()
    cert = _certify(services, pool).certificate
    assert cert.guards.spectral is not None
    assert pool.mapped == [len(cert.guards.spectral.measurements.matrices)]  # once: RMT reads the cache


def test_the_audit_re_measures_through_its_pool_bit_for_bit(services: Services) -> None:
    issued = _certify(services, ThreadMeasurementPool(workers=2))
    deps = ReexecutionDeps(
        loader=services.loader,
        corpora=services.corpora,
        environment=services.environment,
        clock=services.clock,
        new_stream_id=lambda: "audit-0",
        tool_version=services.tool_version,
        measurements=ThreadMeasurementPool(workers=3),
    )
    request = ReexecutionRequest(baseline="base", subject="int8ish", sample=None, sample_seed=3)
    outcome = reexecute_certificate(issued.certificate, request, deps)
    findings = {name: (ok, detail) for name, ok, detail in outcome.findings}
    assert "bit for bit" in findings["reexec:build"][1]
    assert findings["reexec:guard:spectral"][0] and findings["reexec:guard:rmt"][0], findings
    assert outcome.ok


class _BlasRecordingGuard:
    """A plugin guard whose measurement records the BLAS thread counts it ran under (one number per matrix)."""

    name = "blas_recording"
    settings = ("limit",)

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def measure(self, baseline: Any, subject: Any) -> dict[str, dict[str, float]]:
        self.seen = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
        return {m.name: {"norm": float(np.linalg.norm(m.array))} for m in subject.matrices()}


def test_a_plugin_guard_measures_under_the_pools_pinned_blas_threads_as_the_built_in_guards() -> None:
    from invarlock.application.certification.plugin_guard import measured_by

    from tests.fakes.models import FakeModel

    weights = {"ffn.0.w": np.eye(4, dtype=np.float32)}
    base, subject = FakeModel(ref="base", weights=weights), FakeModel(ref="subject", weights=weights)
    guard, inline = _BlasRecordingGuard(), InlineMeasurementPool()
    measured = measured_by(guard, base, subject, inline)
    assert inline.pinned_calls == 1 and [m.name for m in measured.matrices] == ["ffn.0.w"]
    measured_by(guard, base, subject, ThreadMeasurementPool(blas_threads=1, workers=2))
    assert guard.seen == {1}
