"""Real certificates issued by certify_edit on the fakes: fast inputs for report and verify tests."""

from __future__ import annotations

import itertools

import msgspec
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, ModelConfig, RunConfig
from invarlock.application.services import Services
from invarlock.domain import certificate as c

from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, words

EVIL_REF = "<script>alert(1)</script>"


def fake_certificate(baseline: str = "base", *, quality: float = 1.002) -> c.Certificate:
    """Certify a subject whose every NLL is `quality` × the baseline's (3.0 rolls back at preview)."""
    loader = FakeLoader(
        models={baseline: FakeModel(ref=baseline), "subject": FakeModel(ref="subject", quality=quality)}
    )
    ticks, ids = itertools.count(), itertools.count()
    services = Services(
        loader=loader,
        corpora=FakeCorpora(words(120)),
        store=InMemoryEventStore(),
        edits={},
        clock=lambda: f"2026-01-01T00:00:{next(ticks):02d}.000000Z",
        new_run_id=lambda: f"run-{next(ids)}",
        environment=lambda: {"python": "test"},
        tool_version="0.0.test",
    )
    config = RunConfig(
        model=ModelConfig(id=baseline),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, seed=7),
    )
    request = CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id="subject"), tier="balanced", profile="dev"
    )
    return certify_edit(request, services).certificate


def resealed(cert: c.Certificate, **changes: object) -> c.Certificate:
    """`cert` with fields replaced and its digest recomputed (a forger's certificate)."""
    return c.seal(msgspec.structs.replace(cert, **changes))
