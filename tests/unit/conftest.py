from __future__ import annotations

import itertools

import numpy as np
import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.config import DatasetConfig, EditConfig, ModelConfig, RunConfig
from invarlock.application.services import Services

from tests.fakes.models import (
    FakeCheckedEdit,
    FakeCorpora,
    FakeLoader,
    FakeModel,
    FakeScaleEdit,
    FakeWeightEdit,
    words,
)

_VE_WEIGHTS = ("attn.0", "attn.1", "ffn.0.down", "ffn.1.down", "ffn.2.down", "ffn.3.down")


def _clock() -> itertools.count[int]:
    return itertools.count()


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


@pytest.fixture
def loader() -> FakeLoader:
    return FakeLoader(
        models={
            "base": FakeModel(ref="base"),
            "same": FakeModel(ref="same"),
            "int8ish": FakeModel(ref="int8ish", quality=1.002),
            "broken": FakeModel(ref="broken", quality=3.0),
            "other_tok": FakeModel(ref="other_tok", tokenizer_flavour="bpe"),
            "ve_base": FakeModel(ref="ve_base", weights={f"{n}": np.ones((4, 4), np.float32) for n in _VE_WEIGHTS}),
        }
    )


@pytest.fixture
def services(store: InMemoryEventStore, loader: FakeLoader) -> Services:
    ticks = itertools.count()
    ids = itertools.count()
    return Services(
        loader=loader,
        corpora=FakeCorpora(words(120)),
        store=store,
        edits={"fake_scale": FakeScaleEdit(), "fake_weight": FakeWeightEdit(), "fake_checked": FakeCheckedEdit()},
        clock=lambda: f"2026-01-01T00:00:{next(ticks):02d}.000000Z",
        new_run_id=lambda: f"run-{next(ids)}",
        environment=lambda: {"python": "test"},
        tool_version="0.0.test",
    )


def small_config(edit: EditConfig | None = None) -> RunConfig:
    return RunConfig(
        model=ModelConfig(id="base"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, seed=7),
        edit=edit,
    )


@pytest.fixture
def raising_plugin(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake distribution `raising 1.0` (tests/fakes/plugin_dist.py) installed for this test."""
    from tests.fakes.plugin_dist import install_raising_plugin  # it imports small_config from here

    install_raising_plugin(tmp_path, monkeypatch)
