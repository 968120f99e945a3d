"""`invarlock.certify` end to end without a model: a plugin distribution registers the recorded-state fake
adapter and corpus under `invarlock.adapters`/`invarlock.datasets`, the API certifies into a real DuckDB file,
the certificate names the plugin in its provenance, verifies with its events and replays byte for byte, and the
CLI (a thin layer over the API) gives the same verdict on the same inputs."""

from __future__ import annotations

import json
from pathlib import Path

import invarlock
import pytest
import yaml
from click.testing import CliRunner
from invarlock.cli import registry as registry_module
from invarlock.cli.main import cli
from invarlock.cli.registry import Registry
from invarlock.domain import certificate as c

PLUGIN = """
from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, words


def loader():
    return FakeLoader(models={"base": FakeModel(ref="base"), "subject": FakeModel(ref="subject", quality=1.002)})


def corpora():
    return FakeCorpora(words(120))
"""
CONFIG = {
    "model": {"adapter": "fake"},
    "dataset": {"provider": "fake", "seq_len": 32, "preview_n": 8, "final_n": 12, "seed": 7},
    "profile": "dev",
}


@pytest.fixture
def fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    info = site / "fake_models-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "fake_invarlock_plugin.py").write_text(PLUGIN, encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-models\nVersion: 1.0\n", encoding="utf-8")
    points = "[invarlock.adapters]\nfake = fake_invarlock_plugin:loader\n"
    points += "[invarlock.datasets]\nfake = fake_invarlock_plugin:corpora\n"
    (info / "entry_points.txt").write_text(points, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry_module, "_REGISTRY", Registry.discover())


@pytest.mark.usefixtures("fake_plugin")
def test_certify_records_verifies_and_replays_through_the_api(tmp_path: Path) -> None:
    events = tmp_path / "ev.duckdb"
    cert = invarlock.certify("base", "subject", config=CONFIG, events=events, cert_out=tmp_path / "out")
    path = tmp_path / "out" / "evaluation.cert.json"
    assert path.read_bytes() == c.to_bytes(cert) == c.to_bytes(invarlock.load_certificate(path))
    environment = cert.provenance.environment
    assert environment["plugin.adapters.fake"] == environment["plugin.datasets.fake"] == "fake-models 1.0"
    assert cert.provenance.command == "certify" and cert.verdict.status == "PASS"
    report = invarlock.verify(path, events=events)
    assert report.ok and report.exit_code == 0 and "events" in [ch.name for ch in report.checks]
    assert c.to_bytes(invarlock.replay(cert.run_id, events=events)) == path.read_bytes()


@pytest.mark.usefixtures("fake_plugin")
def test_the_cli_is_a_thin_layer_over_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    args = ["certify", "--baseline", "base", "--subject", "subject", "--adapter", "fake", "--preset", "cfg.yaml"]
    result = CliRunner().invoke(cli, [*args, "--events", "ev.duckdb", "--cert-out", "cli", "--json"])
    summary = json.loads(result.output)
    by_api = invarlock.certify("base", "subject", config="cfg.yaml", events="ev.duckdb", cert_out="api")
    by_cli = invarlock.load_certificate(summary["certificate"])
    assert result.exit_code == 0 and summary["verdict"] == by_api.verdict.status == "PASS"
    assert by_cli.evidence == by_api.evidence and by_cli.primary_metric == by_api.primary_metric
    assert by_cli.provenance.environment == by_api.provenance.environment


@pytest.mark.usefixtures("fake_plugin")
def test_an_unknown_adapter_or_provider_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    events = tmp_path / "ev.duckdb"
    with pytest.raises(invarlock.UsageError) as adapter:
        invarlock.certify("base", "subject", config=CONFIG, adapter="nope", events=events)
    assert adapter.value.code == "E104" and "fake" in adapter.value.hint and "hf_causal" in adapter.value.hint
    bad_provider = {**CONFIG, "dataset": {**CONFIG["dataset"], "provider": "nope"}}  # type: ignore[dict-item]
    with pytest.raises(invarlock.UsageError) as provider:
        invarlock.certify("base", "subject", config=bad_provider, events=events)
    assert provider.value.code == "E301" and "demo:wikipedia" in provider.value.hint


@pytest.mark.usefixtures("fake_plugin")
def test_out_sets_the_reports_folder_as_invarlock_0_3_7s_flag_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`--out DIR` (a flag of 0.3.7's certify and run) is output.dir: the certificate goes to DIR/<run_id>/, the
    config records the folder, and a resumed run cannot change it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    args = ["certify", "--baseline", "base", "--subject", "subject", "--adapter", "fake", "--preset", "cfg.yaml"]
    result = CliRunner().invoke(cli, [*args, "--events", "ev.duckdb", "--out", "runs/x", "--json"])
    summary = json.loads(result.output)
    cert = invarlock.load_certificate(summary["certificate"])
    assert result.exit_code == 0 and Path(summary["certificate"]).resolve() == (
        tmp_path / "runs" / "x" / cert.run_id / "evaluation.cert.json"
    )
    assert cert.provenance.config["output"] == {"dir": "runs/x"}
    resumed = CliRunner().invoke(cli, ["certify", "--resume", cert.run_id, "--events", "ev.duckdb", "--out", "y"])
    refused = resumed.exception  # the CLI's main turns it into the one-line error, exit 2
    assert isinstance(refused, invarlock.UsageError) and refused.code == "E200"
    assert refused.message.endswith("--out cannot change them") and refused.hint == "drop --out"
