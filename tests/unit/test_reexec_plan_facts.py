"""The audit's rebuilt window plan against the certificate's dataset section: the stream's length too (the forger
hunt: `dataset.stream_tokens` + 1, resealed, passed every reexec check though the audit rebuilt the stream)."""

from __future__ import annotations

from pathlib import Path

import msgspec
from invarlock.application.verification.reexecute_inputs import plan_problems
from invarlock.domain import certificate as c
from invarlock.domain.windows import WindowPlan

RUN_CERT = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "run.cert.json"


def _rebuilt_as_certified(cert: c.Certificate) -> WindowPlan:
    ds = cert.dataset
    stated = {name: getattr(ds, name) for name in WindowPlan.__struct_fields__ if name != "windows"}
    return WindowPlan(**stated, windows=tuple(cert.evidence.plan))


def test_the_certified_plan_rebuilt_has_no_problem() -> None:
    cert = c.from_bytes(RUN_CERT.read_bytes())
    assert plan_problems(cert, _rebuilt_as_certified(cert), cert.dataset.tokenizer_sha256) == []


def test_a_stream_of_another_length_is_named() -> None:
    cert = c.from_bytes(RUN_CERT.read_bytes())
    rebuilt = _rebuilt_as_certified(cert)
    forged = msgspec.structs.replace(
        cert, dataset=msgspec.structs.replace(cert.dataset, stream_tokens=rebuilt.stream_tokens + 1)
    )
    said = f"the rebuilt stream holds {rebuilt.stream_tokens} tokens, the certificate {rebuilt.stream_tokens + 1}"
    assert plan_problems(forged, rebuilt, cert.dataset.tokenizer_sha256) == [said]
