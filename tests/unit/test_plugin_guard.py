"""A third-party guard without a model: the test plugin's `max_abs_weight` (tests/plugins/invarlock-scale-all)
runs through `invarlock.certify` and the real CLI on the recorded-state fake models into a real DuckDB file. Its
section, flag and provenance are recorded; verify re-decides it with the plugin's `decide` and catches a resealed
alteration of its verdict or a measurement (exit 3); a recipient's policy re-decides it with its own threshold;
without the plugin verify and replay stop with E222; a guard that writes weights, an entry that is no guard, a
misplaced or unset one, and an adapter whose models lack port members are refused with one line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import invarlock
import msgspec
import numpy as np
import pytest
from click.testing import CliRunner
from invarlock.cli import registry as registry_module
from invarlock.cli.main import cli
from invarlock.cli.registry import Registry
from invarlock.domain import certificate as c

from tests.plugins.install import install_plugin

FAKES = """
import numpy as np
from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, words


def _model(ref, scale):
    return FakeModel(ref=ref, quality=1.0 if scale == 1.0 else 1.002,
                     weights={"ffn.0.w": np.full((4, 4), scale, np.float32), "ffn.1.w": np.eye(4, dtype=np.float32)})


def loader():
    return FakeLoader(models={"base": _model("base", 1.0), "small": _model("small", 1.02), "big": _model("big", 1.2)})


def corpora():
    return FakeCorpora(words(120))
"""
DATASET = {"provider": "fake", "seq_len": 32, "preview_n": 8, "final_n": 12, "seed": 7}
ORDER = ["invariants", "spectral", "max_abs_weight", "invariants"]
PLUGIN = "invarlock-scale-all 0.2.1"
FLAG = "plugin_guard_max_abs_weight_pass"


def _config(order: list[str] = ORDER, name: str = "max_abs_weight", **section: object) -> dict[str, object]:
    guards = {"order": order, name: section or {"max_ratio": 1.05}}
    return {"model": {"adapter": "fake"}, "dataset": DATASET, "profile": "dev", "guards": guards}


def _cfg_of(guard: str) -> dict[str, object]:
    return _config(["invariants", guard, "invariants"], guard)


def _discover(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_REGISTRY", Registry.discover())


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The scale-all plugin and a fake-models plugin (adapter `fake`, provider `fake`) installed on sys.path."""
    folder = tmp_path / "site"
    install_plugin(folder)
    info = folder / "fake_guard_models-1.0.dist-info"
    info.mkdir()
    (folder / "fake_guard_models.py").write_text(FAKES, encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-guard-models\nVersion: 1.0\n", encoding="utf-8")
    points = "[invarlock.adapters]\nfake = fake_guard_models:loader\n"
    points += "[invarlock.datasets]\nfake = fake_guard_models:corpora\n"
    (info / "entry_points.txt").write_text(points, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    _discover(monkeypatch)
    yield folder


def _certify(tmp_path: Path, subject: str = "small", config: Any = None) -> tuple[c.Certificate, Path, Path]:
    events, out = tmp_path / "ev.duckdb", tmp_path / "out"
    cert = invarlock.certify("base", subject, config=config or _config(), events=events, cert_out=out)
    return cert, out / "evaluation.cert.json", events


def _verify_cli(path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["verify", str(path), "--json", *args])
    return result.exit_code, json.loads(result.output.splitlines()[-1])


@pytest.mark.usefixtures("site")
def test_a_plugin_guard_gates_the_certificate_and_verify_and_replay_re_derive_it(tmp_path: Path) -> None:
    cert, path, events = _certify(tmp_path / "small")
    section = (cert.guards.plugins or {})["max_abs_weight"]
    assert (section.distribution, section.version, section.verdict) == ("invarlock-scale-all", "0.2.1", "pass")
    assert [m.name for m in section.measurements.matrices] == ["ffn.0.w", "ffn.1.w"]
    assert cert.validation[FLAG] is True and cert.verdict.status == "PASS"
    assert cert.provenance.environment["plugin.guards.max_abs_weight"] == PLUGIN
    assert cert.schema_version == "v2", "a flag v1 did not have"
    report = invarlock.verify(path, events=events)
    assert report.ok and report.exit_code == 0, [ch for ch in report.checks if not ch.ok]
    assert c.to_bytes(invarlock.replay(cert.run_id, events=events)) == path.read_bytes()
    big, big_path, _ = _certify(tmp_path / "big", "big")
    violations = (big.guards.plugins or {})["max_abs_weight"].violations
    assert [v.name for v in violations] == ["ffn.0.w"] and "max |w| ratio 1.2" in violations[0].reason
    assert big.validation[FLAG] is False and FLAG in [f.flag for f in big.verdict.failed]
    assert invarlock.verify(big_path).exit_code == 1, "a valid certificate whose plugin guard fails"
    html = invarlock.render_report(big_path, "html")
    assert "Guard max_abs_weight" in html and "max |w| ratio 1.200000 &gt; 1.05" in html


@pytest.mark.usefixtures("site")
def test_a_recipient_policy_re_decides_the_plugin_guard_with_its_own_threshold(tmp_path: Path) -> None:
    _, path, _ = _certify(tmp_path)
    strict = {"tier": "balanced", "guards": {"max_abs_weight": {"max_ratio": 1.01}}}
    code, envelope = _verify_cli(path, "--policy", str(_yaml(tmp_path / "strict.yaml", strict)))
    recipient = next(ch for ch in envelope["checks"] if ch["name"] == "recipient_policy")
    assert code == 1 and FLAG in recipient["detail"], envelope
    assert _verify_cli(path, "--tier", "aggressive")[0] == 0, "a tier keeps the certificate's plugin thresholds"
    monitor = {"tier": "balanced", "guards": {"max_abs_weight": {"max_ratio": 1.01, "mode": "monitor"}}}
    assert _verify_cli(path, "--policy", str(_yaml(tmp_path / "monitor.yaml", monitor)))[0] == 0


def _yaml(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return path


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize("where", ["verdict", "measurement", "mode"])
def test_verify_catches_a_resealed_alteration_of_the_plugin_guard(tmp_path: Path, where: str) -> None:
    cert, _, _ = _certify(tmp_path)
    section = (cert.guards.plugins or {})["max_abs_weight"]
    if where == "verdict":
        forged = msgspec.structs.replace(section, verdict="fail")
    elif where == "mode":
        forged = msgspec.structs.replace(section, mode="monitor")
    else:
        rows = section.measurements.matrices
        raised = msgspec.structs.replace(rows[0], values={**rows[0].values, "ratio": 1.5})
        measured = msgspec.structs.replace(section.measurements, matrices=[raised, *rows[1:]])
        forged = msgspec.structs.replace(section, measurements=measured)
    guards = msgspec.structs.replace(cert.guards, plugins={"max_abs_weight": forged})
    path = tmp_path / "forged.json"
    path.write_bytes(c.to_bytes(c.seal(msgspec.structs.replace(cert, guards=guards))))
    code, envelope = _verify_cli(path)
    failed = {ch["name"] for ch in envelope["checks"] if not ch["ok"]}
    assert code == 3 and "guard:max_abs_weight" in failed, envelope


def test_without_the_plugin_verify_and_replay_name_the_distribution_and_both_note_another_version(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, path, events = _certify(tmp_path)
    (info,) = site.glob("invarlock_scale_all-*.dist-info")
    metadata = (info / "METADATA").read_text(encoding="utf-8")
    # the installed version with a terminal control sequence: both commands print it escaped
    (info / "METADATA").write_text(metadata.replace("0.2.1", "0.3.0\x1b[2J"), encoding="utf-8")
    _discover(monkeypatch)
    result = CliRunner().invoke(cli, ["verify", str(path)])
    note = "NOTE: guard 'max_abs_weight' was computed by invarlock-scale-all 0.2.1; invarlock-scale-all 0.3.0\\x1b[2J"
    assert result.exit_code == 0 and note in result.output, result.output
    replayed = CliRunner().invoke(cli, ["replay", cert.run_id, "--events", str(events)])
    assert replayed.exit_code == 0 and note in replayed.stderr and note not in replayed.stdout, replayed.output
    assert replayed.stdout.strip().encode() == c.to_bytes(cert), "the certificate on stdout is unchanged"
    for file in info.iterdir():
        file.unlink()
    info.rmdir()
    _discover(monkeypatch)
    for args in (["verify", str(path)], ["replay", cert.run_id, "--events", str(events)]):
        error = CliRunner().invoke(cli, args).exception
        assert isinstance(error, invarlock.UsageError) and error.code == "E222" and error.exit_code == 2, args
        assert "guard 'max_abs_weight'" in error.message and PLUGIN in error.message
        assert "(pip install invarlock-scale-all==0.2.1)" in error.hint


@pytest.mark.usefixtures("site")
def test_a_recorded_plugin_guard_the_order_does_not_name_asks_the_recipient_to_install_nothing(tmp_path: Path) -> None:
    """A resealed certificate naming `plugin.guards.foo` (a guard it never ran) said: E222, pip install evil-pkg."""
    builtin = ["invariants", "spectral", "invariants"]
    cert, path, _ = _certify(tmp_path, config={**_config(builtin), "guards": {"order": builtin}})
    environment = {**cert.provenance.environment, "plugin.guards.foo": "evil-pkg 1.0"}
    forged = c.seal(
        msgspec.structs.replace(cert, provenance=msgspec.structs.replace(cert.provenance, environment=environment))
    )
    path.write_bytes(c.to_bytes(forged))
    result = CliRunner().invoke(cli, ["verify", str(path)])
    assert result.exit_code == 0 and "evil-pkg" not in result.output, result.output


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize(
    ("config", "code", "why"),
    [
        (_config(["invariants", "repairing_guard", "invariants"], "repairing_guard"), "E221", "called scale_weights"),
        (_cfg_of("flag_flipping_guard"), "E221", "cannot set WRITEABLE flag"),  # it certified its own rescaling
        (_config(["invariants", "norm_ratio", "invariants"]), "E223", "it lacks name, settings, measure, decide"),
        (_config(["invariants", "max_abs_weight", "spectral", "invariants"]), "E202", "before a built-in guard"),
        (_config(limit=1.05), "E202", "needs guards.max_abs_weight.max_ratio"),
        (_config(max_ratio="high"), "E202", "guards.max_abs_weight"),
    ],
)
def test_a_plugin_guard_that_repairs_is_no_guard_misplaced_or_unset_is_refused(
    tmp_path: Path, config: dict[str, object], code: str, why: str
) -> None:
    with pytest.raises(invarlock.InvarlockError) as caught:
        _certify(tmp_path, config=config)
    assert caught.value.code == code and why in caught.value.message, caught.value.message


def test_an_adapter_plugin_whose_models_lack_port_members_is_refused_with_e223(site: Path, tmp_path: Path) -> None:
    config = {"model": {"adapter": "half_adapter"}, "dataset": DATASET, "profile": "dev"}
    with pytest.raises(invarlock.UsageError) as caught:
        invarlock.certify("base", "subject", config=config, events=tmp_path / "ev.duckdb")
    message = caught.value.message
    assert caught.value.code == "E223" and "adapter plugin 'half_adapter' (invarlock-scale-all 0.2.1)" in message
    assert "lacks score_pair, activation_stats, identity, matrices, census, unmapped" in message, message
    assert message.endswith("export, batch_size (an int >= 1)"), message


def test_an_adapter_plugin_whose_load_takes_the_old_keywords_is_refused_with_e223(site: Path, tmp_path: Path) -> None:
    config = {"model": {"adapter": "keyword_adapter"}, "dataset": DATASET, "profile": "dev"}
    with pytest.raises(invarlock.UsageError) as caught:
        invarlock.certify("base", "subject", config=config, events=tmp_path / "ev.duckdb")
    message = caught.value.message
    assert caught.value.code == "E223" and "adapter plugin 'keyword_adapter' (invarlock-scale-all 0.2.1)" in message
    assert "load(ref, *, adapter, device, dtype, batch_size) does not take (ref, options)" in message, message
    assert "LoadOptions" in caught.value.hint


@pytest.mark.usefixtures("site")
def test_the_re_execution_audit_measures_the_plugin_guard_again(tmp_path: Path) -> None:
    _, path, _ = _certify(tmp_path)
    report = invarlock.verify(path, models={"baseline": "base", "subject": "small"}, sample=None)
    checks = {ch.name: ch for ch in report.checks}
    finding = checks["reexec:guard:max_abs_weight"]
    assert report.exit_code == 0 and finding.ok and "2 matrices re-measured" in finding.detail, report.checks


class _HeldWeights:
    """A WeightSource holding its matrices (the HF adapter hands out views of the model's own tensors)."""

    def __init__(self, scale: float) -> None:
        self.arrays = {"ffn.0.w": np.full((4, 4), scale, np.float32)}

    def matrices(self) -> Iterator[SimpleNamespace]:
        for name, array in self.arrays.items():
            yield SimpleNamespace(name=name, family="ffn", block=0, head=False, array=array)

    def identity(self) -> SimpleNamespace:
        return SimpleNamespace(weights_sha256=hashlib.sha256(self.arrays["ffn.0.w"].tobytes()).hexdigest())


def _halve(array: np.ndarray) -> None:
    """Past every flag (ctypes), as a plugin holding the writable array behind a read-only view could."""
    import ctypes

    halved = (array / 2).astype(array.dtype)
    ctypes.memmove(array.ctypes.data, halved.ctypes.data, halved.nbytes)


class _WritingGuard:
    name = "writing_guard"
    settings = ("max_ratio",)

    def __init__(self, when: str) -> None:
        self.when = when
        self.held: list[np.ndarray] = []

    def measure(self, baseline: Any, subject: Any) -> dict[str, dict[str, float]]:
        self.held = [m.array for m in subject.matrices()]
        if self.when == "measure":
            _halve(self.held[0])
        return {"ffn.0.w": {"ratio": 1.0}}

    def decide(self, measurements: Any, settings: Any) -> dict[str, str]:
        if self.when == "decide":  # after measure returned: the digests around measure alone missed it
            _halve(self.held[0])
        return {}


@pytest.mark.parametrize("when", ["measure", "decide"])
def test_a_plugin_guard_that_writes_the_weights_by_other_means_is_caught_by_their_digests(when: str) -> None:
    from invarlock.application.certification.plugin_guard import measured_by, weights_unchanged

    baseline, subject, guard = _HeldWeights(1.0), _HeldWeights(1.2), _WritingGuard(when)
    unchanged = weights_unchanged(guard.name, baseline, subject)  # type: ignore[arg-type]
    with pytest.raises(invarlock.InvarlockError) as caught, unchanged:  # the guard's step: measure, then decide
        measured_by(guard, baseline, subject)  # type: ignore[arg-type]
        guard.decide({}, {})
    assert caught.value.code == "E221"
    said = "plugin guard writing_guard changed the subject weights it was given to measure"
    assert caught.value.message == said
    assert float(subject.arrays["ffn.0.w"][0, 0]) == pytest.approx(0.6)  # the write happened: the run stops on it
