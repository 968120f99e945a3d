"""A third-party metric kind end to end without a model: the test plugin distribution's `mean_delta_nll`
(tests/plugins/invarlock-scale-all) runs through `invarlock.certify` and the real CLI on the recorded-state fake
models into a real DuckDB file; the certificate names the plugin in its provenance and gates with the plugin's
rule on the tier's thresholds; verify recomputes it (and catches a resealed alteration) and replay rebuilds it
while the plugin is installed; without it, verify and replay stop with E222 naming the distribution."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import invarlock
import msgspec
import pytest
import yaml
from click.testing import CliRunner
from invarlock.cli import registry as registry_module
from invarlock.cli.bootstrap import open_store
from invarlock.cli.main import cli
from invarlock.cli.registry import Registry
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.metrics import METRICS
from invarlock.domain.policy import policy_digest, policy_from_dict

from tests.plugins.install import install_plugin

FAKES = """
from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, words


def loader():
    return FakeLoader(models={"base": FakeModel(ref="base"), "subject": FakeModel(ref="subject", quality=1.002)})


def corpora():
    return FakeCorpora(words(120))
"""
DATASET = {"provider": "fake", "seq_len": 32, "preview_n": 8, "final_n": 12, "seed": 7}
CONFIG = {"model": {"adapter": "fake"}, "dataset": DATASET, "profile": "dev", "eval": {"metric": {"kind": ""}}}
PLUGIN = "invarlock-scale-all 0.2.1"


def _config(kind: str) -> dict[str, object]:
    return {**CONFIG, "eval": {"metric": {"kind": kind}}}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The scale-all plugin and a fake-models plugin (adapter `fake`, provider `fake`) installed on sys.path."""
    folder = tmp_path / "site"
    install_plugin(folder)
    info = folder / "fake_models-1.0.dist-info"
    info.mkdir()
    (folder / "fake_metric_models.py").write_text(FAKES, encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-models\nVersion: 1.0\n", encoding="utf-8")
    points = "[invarlock.adapters]\nfake = fake_metric_models:loader\n"
    points += "[invarlock.datasets]\nfake = fake_metric_models:corpora\n"
    (info / "entry_points.txt").write_text(points, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(registry_module, "_REGISTRY", Registry.discover())
    builtin = dict(METRICS)
    yield folder
    METRICS.clear()  # a plugin kind stays registered for the process: later tests start without it
    METRICS.update(builtin)


def _uninstall_metric_plugin(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave only the fake models on the path: the process forgets the plugin's kind and distribution."""
    for info in site.glob("invarlock_scale_all-*.dist-info"):
        for file in info.iterdir():
            file.unlink()
        info.rmdir()
    monkeypatch.setattr(registry_module, "_REGISTRY", Registry.discover())
    METRICS.pop("mean_delta_nll", None)


def _certify(tmp_path: Path, kind: str = "mean_delta_nll") -> tuple[c.Certificate, Path, Path]:
    events = tmp_path / "ev.duckdb"
    cert = invarlock.certify("base", "subject", config=_config(kind), events=events, cert_out=tmp_path / "out")
    return cert, tmp_path / "out" / "evaluation.cert.json", events


@pytest.mark.usefixtures("site")
def test_a_plugin_metric_kind_certifies_verifies_and_replays(tmp_path: Path) -> None:
    cert, path, events = _certify(tmp_path)
    pm = cert.primary_metric
    assert pm.kind == "mean_delta_nll" and pm.unit == "nats per token" and pm.final is not None
    assert cert.provenance.environment["plugin.metrics.mean_delta_nll"] == PLUGIN
    assert pm.ci is not None and pm.display_ci == pm.ci and pm.ci[0] <= pm.final.value("delta_mean") <= pm.ci[1]
    limit = math.log(cert.policy.resolved["gates"]["ratio_limit"])
    assert cert.validation["primary_metric_acceptable"] is (pm.ci[1] <= limit)
    report = invarlock.verify(path, events=events)
    assert report.ok and report.exit_code == 0, [ch for ch in report.checks if not ch.ok]
    assert c.to_bytes(invarlock.replay(cert.run_id, events=events)) == path.read_bytes()
    script = Path(__file__).resolve().parents[2] / "docs" / "reference" / "recompute_ci.py"
    recomputed = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, check=False)
    status = {line.split()[1]: line.split()[0] for line in recomputed.stdout.splitlines()}
    assert status["ci:"] == "ok" and status["display_ci:"] == "DIFF", "the same interval, stated in nats"
    stricter = invarlock.verify(path, tier="conservative")  # the recipient's tier re-decides the plugin's gate
    assert stricter.ok and "recipient_policy" in [ch.name for ch in stricter.checks], stricter.checks
    report_args = ["report", "html", str(path), "-o", str(tmp_path / "r.html")]
    assert CliRunner().invoke(cli, report_args).exit_code == 0 and "mean_delta_nll" in (tmp_path / "r.html").read_text()


@pytest.mark.usefixtures("site")
def test_a_plugin_kind_run_cut_after_its_preview_resumes_to_the_same_statistic(tmp_path: Path) -> None:
    full, _, events = _certify(tmp_path / "full")
    records = open_store(events, read_only=True).read(full.run_id)
    keep = [r.type for r in records].index("preview_assessed") + 1
    cut = tmp_path / "cut.duckdb"
    open_store(cut).append(full.run_id, 0, [ev.decode_event(r.type, r.version, r.payload) for r in records[:keep]])
    METRICS.pop("mean_delta_nll")  # as in a fresh process: the recorded kind is resolved from the plugin again
    resumed = invarlock.resume_certify(full.run_id, events=cut, cert_out=tmp_path / "resumed").certificate
    assert resumed.primary_metric == full.primary_metric and resumed.validation == full.validation
    assert resumed.provenance.environment["plugin.metrics.mean_delta_nll"] == PLUGIN


@pytest.mark.usefixtures("site")
def test_a_plugin_kind_gates_on_the_tiers_thresholds_and_adds_no_policy_section(tmp_path: Path) -> None:
    plugin, _, _ = _certify(tmp_path / "plugin")
    builtin, _, _ = _certify(tmp_path / "builtin", "ppl_causal")
    assert plugin.policy == builtin.policy, "the same tier and profile resolve to the same policy and digest"
    assert plugin.policy.digest == policy_digest(policy_from_dict(plugin.policy.resolved))
    assert "plugin.metrics.ppl_causal" not in builtin.provenance.environment, "built-ins are not listed"
    assert plugin.primary_metric.ci == builtin.primary_metric.ci, "the same Δ̄ interval, stated in nats"
    gate = "primary_metric_acceptable"
    assert plugin.validation[gate] is builtin.validation[gate], "ln is monotone: the two gates agree"


@pytest.mark.usefixtures("site")
def test_verify_recomputes_the_plugin_metric_and_catches_a_resealed_alteration(tmp_path: Path) -> None:
    cert, _, _ = _certify(tmp_path)
    pm = cert.primary_metric
    assert pm.display_ci is not None
    shifted = (pm.display_ci[0], pm.display_ci[1] * 0.5)
    forged = c.seal(msgspec.structs.replace(cert, primary_metric=msgspec.structs.replace(pm, display_ci=shifted)))
    (tmp_path / "forged.json").write_bytes(c.to_bytes(forged))
    result = CliRunner().invoke(cli, ["verify", str(tmp_path / "forged.json"), "--json"])
    failed = [ch["name"] for ch in json.loads(result.output)["checks"] if not ch["ok"]]
    assert result.exit_code == 3 and failed, result.output


def test_the_cli_certifies_with_a_plugin_kind_and_without_the_plugin_verify_and_replay_name_it(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(_config("mean_delta_nll")), encoding="utf-8")
    args = ["certify", "--baseline", "base", "--subject", "subject", "--adapter", "fake", "--preset", "cfg.yaml"]
    certified = CliRunner().invoke(cli, [*args, "--events", "ev.duckdb", "--cert-out", "out", "--json"])
    assert certified.exit_code == 0, certified.output
    said = CliRunner().invoke(cli, [*args, "--events", "ev2.duckdb", "--cert-out", "out2"]).output
    headline = said.splitlines()[0]  # its own numbers, not read as a perplexity ratio against the tier's limit
    assert "mean_delta_nll" in headline and "the plugin's gates decide" in headline and "limit" not in headline, said
    path, events = tmp_path / "out" / "evaluation.cert.json", tmp_path / "ev.duckdb"
    cert = invarlock.load_certificate(path)
    assert cert.provenance.environment["plugin.metrics.mean_delta_nll"] == PLUGIN
    assert CliRunner().invoke(cli, ["verify", str(path), "--events", str(events)]).exit_code == 0
    _uninstall_metric_plugin(site, monkeypatch)
    for args in (["verify", str(path)], ["replay", cert.run_id, "--events", str(events)]):
        result = CliRunner().invoke(cli, args)
        error = result.exception
        assert isinstance(error, invarlock.UsageError) and error.code == "E222" and error.exit_code == 2, args
        assert PLUGIN in error.message and "(pip install invarlock-scale-all==0.2.1)" in error.hint


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize(
    ("kind", "code", "why"),
    [
        ("mislabelled", "E223", "is not a metric of kind 'mislabelled': its kind is 'mean_delta_nll'"),
        ("not_a_metric", "E223", "is not a metric of kind 'not_a_metric': it lacks kind, unit, direction"),
        ("broken_metric", "E220", "failed to load: ImportError: invarlock_scale_all.broken needs a library"),
    ],
)
def test_a_metric_entry_that_fails_to_load_or_is_mislabelled_is_refused_before_anything_runs(
    tmp_path: Path, kind: str, code: str, why: str
) -> None:
    with pytest.raises(invarlock.UsageError) as caught:
        _certify(tmp_path, kind)
    assert caught.value.code == code and f"metric plugin '{kind}' ({PLUGIN})" in caught.value.message
    assert why in caught.value.message and not (tmp_path / "ev.duckdb").exists()
