"""`provider: hf` on real data read with `datasets`: the demo text and the Pang & Lee polarity set saved to disk
(and as parquet) and loaded back, certified through the use case on the recorded-state fake models."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from invarlock.adapters.corpus_demo import open_demo_news
from invarlock.adapters.corpus_labelled import open_demo_polarity
from invarlock.adapters.corpus_resolver import LocalCorpusResolver
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import (
    DatasetConfig,
    EvalConfig,
    GuardsConfig,
    MetricConfig,
    ModelConfig,
    RunConfig,
    config_to_dict,
    parse_config,
)
from invarlock.application.replay.replay import replay_certificate
from invarlock.application.services import Services
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError

from tests.fakes.models import FakeLoader, FakeModel

pytestmark = pytest.mark.hf

SPLIT = "validation"
ACCURACY = MetricConfig(kind="accuracy", template="Review: {text} Sentiment:", label_words=[" negative", " positive"])


@pytest.fixture(scope="module")
def datasets_module() -> Any:
    import datasets

    datasets.disable_progress_bars()
    return datasets


@pytest.fixture(scope="module")
def news(datasets_module: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """The demo news articles and a folder holding them as a saved DatasetDict (splits validation and test)."""
    docs = list(open_demo_news(SPLIT).texts())
    dataset = datasets_module.Dataset.from_dict({"id": list(range(len(docs))), "text": docs})
    folder = tmp_path_factory.mktemp("news") / "news"
    datasets_module.DatasetDict({SPLIT: dataset, "test": dataset.select(range(5))}).save_to_disk(folder)
    return docs, folder


@pytest.fixture(scope="module")
def polarity(datasets_module: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pang & Lee polarity with a ClassLabel column (0 = neg, 1 = pos), saved to disk."""
    examples = list(open_demo_polarity(SPLIT).examples())
    label = datasets_module.ClassLabel(names=["neg", "pos"])
    features = datasets_module.Features({"sentence": datasets_module.Value("string"), "label": label})
    columns = {"sentence": [e.text for e in examples], "label": [label.str2int(e.label) for e in examples]}
    folder = tmp_path_factory.mktemp("polarity") / "polarity"
    datasets_module.Dataset.from_dict(columns, features=features).save_to_disk(folder)
    return folder


def test_the_demo_text_saved_to_disk_comes_back_in_order_with_its_fingerprint(news, datasets_module) -> None:
    docs, folder = news
    corpus = LocalCorpusResolver().open("hf", path=str(folder), split=SPLIT)
    assert list(corpus.texts()) == docs
    info = corpus.info()
    assert (info.provider, info.split, info.source, info.revision) == ("hf", SPLIT, str(folder), None)
    assert info.fingerprint == datasets_module.load_from_disk(str(folder))[SPLIT]._fingerprint
    assert list(LocalCorpusResolver().open("hf", path=str(folder), split="test").texts()) == docs[:5]


def test_parquet_files_and_the_jsonl_provider_give_the_same_documents(news, datasets_module, tmp_path) -> None:
    docs, folder = news
    dataset = datasets_module.load_from_disk(str(folder))[SPLIT]
    dataset.to_parquet(tmp_path / "news.parquet")
    dataset.to_json(tmp_path / "news.jsonl", lines=True)
    resolver = LocalCorpusResolver()
    from_parquet = resolver.open("hf", path=str(tmp_path / "news.parquet"), split=SPLIT)
    from_json_loader = resolver.open("hf", path=str(tmp_path / "news.jsonl"), split=SPLIT)
    from_jsonl_provider = resolver.open("jsonl", path=str(tmp_path / "news.jsonl"), split=SPLIT)
    from_arrow_glob = resolver.open("hf", path=str(folder / SPLIT / "*.arrow"), split=SPLIT)
    assert list(from_parquet.texts()) == list(from_json_loader.texts()) == list(from_jsonl_provider.texts()) == docs
    assert list(from_arrow_glob.texts()) == docs
    assert from_parquet.info().fingerprint and from_jsonl_provider.info().fingerprint is None


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"split": "train"}, "has no split 'train'"),
        ({"split": SPLIT, "text_field": "body"}, "has no column 'body' (columns: id, text)"),
    ],
)
def test_a_missing_split_or_column_is_E301_naming_what_there_is(news, kwargs, needle) -> None:
    with pytest.raises(UsageError) as err:
        LocalCorpusResolver().open("hf", path=str(news[1]), **kwargs)
    assert err.value.code == "E301" and needle in err.value.message


def test_a_jsonl_file_that_is_not_utf8_is_E301_naming_it(datasets_module, tmp_path) -> None:
    """The configs hunt: `datasets` loads the bytes and decodes the column when it is read: E999 UnicodeDecodeError."""
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "caf\xe9 au lait"}\n{"text": "plain"}\n')
    with pytest.raises(UsageError) as err:
        LocalCorpusResolver().open("hf", path=str(path), split="train", text_field="text")
    assert err.value.code == "E301" and f"dataset {path} column 'text' is not UTF-8 text" in err.value.message


COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(datasets_module: Any, news, tmp_path: Path, monkeypatch) -> list[str]:
    """The hub dataset `invarlock-tests/news` (20 demo articles) as the `datasets` cache holds one after a
    download, `<cache>/<namespace>___<name>/<config>/<version>/<commit>/`; nothing can be downloaded here, so
    the prepared arrow files come from a local parquet build, renamed after the dataset."""
    docs = news[0][:20]
    datasets_module.Dataset.from_dict({"text": docs}).to_parquet(tmp_path / "news.parquet")
    data_files = {SPLIT: str(tmp_path / "news.parquet")}
    builder = datasets_module.load_dataset_builder("parquet", data_files=data_files, cache_dir=str(tmp_path / "b"))
    builder.download_and_prepare()
    cached = tmp_path / "cache" / "invarlock-tests___news" / "default" / "0.0.0" / COMMIT
    shutil.copytree(builder.cache_dir, cached)
    for arrow in cached.glob("parquet-*.arrow"):
        arrow.rename(cached / arrow.name.replace("parquet-", "news-"))
    monkeypatch.setattr(datasets_module.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    monkeypatch.setenv("INVARLOCK_ALLOW_NETWORK", "0")
    return docs


def test_a_cached_hub_dataset_loads_offline_and_records_the_commit_it_was_read_at(hub_cache) -> None:
    resolver = LocalCorpusResolver()
    corpus = resolver.open("hf", path=None, split=SPLIT, name="invarlock-tests/news")
    assert list(corpus.texts()) == hub_cache
    info = corpus.info()
    assert (info.source, info.revision) == ("hf:invarlock-tests/news", COMMIT) and info.fingerprint
    pinned = resolver.open("hf", path=None, split=SPLIT, name="invarlock-tests/news", config="default", revision=COMMIT)
    assert pinned.info().revision == COMMIT and pinned.info().source == "hf:invarlock-tests/news/default"
    with pytest.raises(UsageError) as err:
        resolver.open("hf", path=None, split=SPLIT, name="invarlock-tests/news", revision="f" * 40)
    assert err.value.code == "E301" and f"the cached copy is {COMMIT}" in err.value.message


def test_a_hub_dataset_that_is_not_cached_is_a_quick_E301_offline(monkeypatch) -> None:
    monkeypatch.setenv("INVARLOCK_ALLOW_NETWORK", "0")
    started = time.monotonic()
    with pytest.raises(UsageError) as err:
        LocalCorpusResolver().open("hf", path=None, split=SPLIT, name="invarlock-tests/not-cached", config="raw")
    assert err.value.code == "E301" and "invarlock-tests/not-cached/raw (validation) is not available offline" in (
        err.value.message
    )
    assert "INVARLOCK_ALLOW_NETWORK=1" in err.value.hint and time.monotonic() - started < 30


_LEFT_AS_IT_WAS = """
import os
from invarlock.adapters.corpus_hf_load import offline_unless_allowed
with offline_unless_allowed():
    import datasets, huggingface_hub.constants as hub
    inside = (datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE)
print(inside, os.environ.get("HF_HUB_OFFLINE"), os.environ.get("HF_DATASETS_OFFLINE"), hub.HF_HUB_OFFLINE)
os.environ["INVARLOCK_ALLOW_NETWORK"] = "1"
with offline_unless_allowed():
    print(datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE)
"""


def test_an_offline_read_leaves_the_process_as_it_found_it() -> None:
    """A first offline read set HF_HUB_OFFLINE and HF_DATASETS_OFFLINE for good: the API user's later `datasets`
    calls, child processes and a call with INVARLOCK_ALLOW_NETWORK=1 stayed offline (the API hunt)."""
    hf = ("INVARLOCK_ALLOW_NETWORK", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    env = {k: v for k, v in os.environ.items() if k not in hf}
    done = subprocess.run([sys.executable, "-c", _LEFT_AS_IT_WAS], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["(True, True) None None False", "False False"], done.stdout


def test_hub_keys_need_provider_hf_and_unset_ones_are_not_recorded() -> None:
    with pytest.raises(UsageError, match=r"dataset.name, dataset.revision name a hub dataset: they need provider: hf"):
        parse_config({"dataset": {"provider": "jsonl", "name": "x/y", "revision": "main"}}, source="c.yaml")
    assert set(config_to_dict(RunConfig())["dataset"]).isdisjoint({"name", "config", "revision"})
    hub = parse_config({"dataset": {"provider": "hf", "name": "x/y", "config": "raw"}}, source="c.yaml")
    assert config_to_dict(hub)["dataset"]["name"] == "x/y" and "revision" not in config_to_dict(hub)["dataset"]
    with pytest.raises(UsageError, match=r"exactly one of dataset\.name"):
        LocalCorpusResolver().open("hf", path=None, split=SPLIT)


def _services() -> Services:
    ticks, ids = itertools.count(), itertools.count()
    return Services(
        loader=FakeLoader(models={"base": FakeModel(ref="base"), "subject": FakeModel(ref="subject", quality=1.01)}),
        corpora=LocalCorpusResolver(),
        store=InMemoryEventStore(),
        edits={},
        clock=lambda: f"2026-01-01T00:00:{next(ticks):02d}.000000Z",
        new_run_id=lambda: f"run-{next(ids)}",
        environment=lambda: {"python": "test"},
        tool_version="0.0.test",
    )


def _certify(dataset: DatasetConfig, metric: MetricConfig | None = None) -> tuple[c.Certificate, Services]:
    services = _services()
    config = RunConfig(
        model=ModelConfig(id="base"),
        dataset=dataset,
        eval=EvalConfig(metric=metric) if metric else EvalConfig(),
        guards=GuardsConfig(order=["invariants", "invariants"]),
    )
    request = CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id="subject"), tier="balanced", profile="dev"
    )
    return certify_edit(request, services).certificate, services


def _replays_and_verifies(cert: c.Certificate, services: Services) -> None:
    assert verify_certificate(cert).ok
    assert c.to_bytes(replay_certificate(services.store, cert.run_id)) == c.to_bytes(cert)


def test_a_perplexity_certificate_of_an_hf_dataset_records_its_fingerprint_and_is_v2(news) -> None:
    ds = DatasetConfig(provider="hf", path=str(news[1]), seq_len=32, preview_n=8, final_n=12, calibration_n=0)
    cert, services = _certify(ds)
    assert cert.schema_version == "v2" and cert.dataset.provider == "hf"
    assert cert.dataset.fingerprint == LocalCorpusResolver().open("hf", path=str(news[1])).info().fingerprint
    _replays_and_verifies(cert, services)


def test_accuracy_reads_a_classlabel_set_through_provider_hf_with_its_label_names(polarity) -> None:
    ds = DatasetConfig(
        provider="hf", path=str(polarity), text_field="sentence", seq_len=128, preview_n=40, final_n=60, calibration_n=0
    )
    cert, services = _certify(ds, ACCURACY)
    assert cert.primary_metric.kind == "accuracy" and cert.primary_metric.final is not None
    assert cert.primary_metric.final.windows == 60 and cert.dataset.fingerprint
    labelled = LocalCorpusResolver().open_labelled("hf", path=str(polarity), text_field="sentence")
    assert list(labelled.examples()) == list(open_demo_polarity(SPLIT).examples())
    _replays_and_verifies(cert, services)
