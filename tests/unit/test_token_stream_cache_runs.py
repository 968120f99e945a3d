"""certify reads a token stream an earlier process kept (services.tokens) and records the same plan and evidence
as a run that tokenized; `reuse: false` (`--no-reuse`) tokenizes anew and neither reads nor keeps a stream."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from invarlock.application.certification import token_streams
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.services import Services
from invarlock.domain import certificate as c

from tests.fakes.tokenizer import FakeTokenizer
from tests.unit.conftest import small_config
from tests.unit.test_token_streams import RecordedStreams


@pytest.fixture(autouse=True)
def _stable_fake_tokenizer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeTokenizer, "implementation", lambda self: "fake encoder 1", raising=False)
    monkeypatch.setattr(token_streams, "_memo", {})  # each certify below starts as a new process would


def _request(*, reuse: bool | None = None) -> CertifyRequest:
    cfg = small_config()
    cfg = msgspec.structs.replace(cfg, eval=msgspec.structs.replace(cfg.eval, reuse=reuse))
    return CertifyRequest("certify", cfg, ModelConfig(id="int8ish"), tier="balanced", profile="dev")


def _plan_and_evidence(cert: c.Certificate) -> tuple[bytes, bytes]:
    return msgspec.json.encode(cert.dataset), msgspec.json.encode(cert.evidence)


def test_a_later_run_reads_the_kept_stream_and_records_what_tokenizing_records(services: Services) -> None:
    kept = RecordedStreams()
    svc = dataclasses.replace(services, tokens=kept)
    fresh = certify_edit(_request(), svc).certificate
    assert len(kept.saved) == 1 and len(kept.asked) == 1
    token_streams._memo.clear()
    read = certify_edit(_request(), svc).certificate
    assert kept.asked == [*kept.saved, *kept.saved] and len(kept.saved) == 1
    token_streams._memo.clear()
    uncached = certify_edit(_request(), services).certificate
    assert _plan_and_evidence(read) == _plan_and_evidence(fresh) == _plan_and_evidence(uncached)


def test_no_reuse_tokenizes_anew_and_keeps_nothing(services: Services) -> None:
    kept = RecordedStreams()
    svc = dataclasses.replace(services, tokens=kept)
    fresh = certify_edit(_request(reuse=False), svc).certificate
    assert kept.asked == [] and kept.saved == {}
    token_streams._memo.clear()
    cached = certify_edit(_request(), svc).certificate
    assert len(kept.saved) == 1 and cached.dataset == fresh.dataset


def test_a_resume_tokenizes_anew_so_a_damaged_kept_stream_cannot_fail_the_run(services: Services) -> None:
    """The cache hunt: a kept stream changed after a run was stopped gave its resume another plan, E605 was
    recorded, and the run could never be resumed, over what the cache can rebuild."""
    from invarlock.application.certification.certify import resume_run
    from invarlock.domain.errors import RunInterrupted

    from tests.unit.test_calibrate_resume import StoppingStore

    store, kept = StoppingStore(), RecordedStreams()
    svc = dataclasses.replace(services, store=store, index=None, tokens=kept)
    store.stop_run, store.stop_at = "run-0", 8
    with pytest.raises(RunInterrupted):
        certify_edit(_request(), svc)
    store.stop_run = None
    [key] = kept.saved
    kept.saved[key] = kept.saved[key][::-1].copy()  # another stream under the run's key
    token_streams._memo.clear()
    resumed = resume_run("run-0", svc).certificate
    token_streams._memo.clear()
    fresh = certify_edit(_request(), dataclasses.replace(services, tokens=None)).certificate
    assert _plan_and_evidence(resumed) == _plan_and_evidence(fresh)
