"""Conventions users expect of the real CLI: `python -m invarlock`, `invarlock plugins`, shell completion,
`--quiet`/`--verbose` and NO_COLOR; a broken plugin never breaks a command that does not use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from invarlock.cli import api, commands_run, console, run_summary
from invarlock.cli import registry as registry_module
from invarlock.cli.main import cli
from invarlock.cli.registry import Registry
from invarlock.domain import certificate as c
from invarlock.domain.certificate import SCHEMA_VERSIONS
from invarlock.domain.errors import UsageError

from tests.fakes.certificates import fake_certificate
from tests.fakes.kind_certificates import accuracy_certificate, embedding_certificate
from tests.plugins.install import install_plugin

ANSI = "\x1b["


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    install_plugin(folder)
    return folder


@pytest.fixture
def with_plugin(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's registry as if the plugin distribution were installed (what PYTHONPATH=site gives)."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry_module, "_REGISTRY", Registry.discover())


@pytest.fixture
def cert(tmp_path: Path) -> Path:
    path = tmp_path / "cert.json"
    path.write_bytes(c.to_bytes(fake_certificate()))
    return path


def _run(cwd: Path, *args: str, site: Path | None = None, exe: list[str] | None = None, **env: str):  # type: ignore[no-untyped-def]
    environ = {k: v for k, v in os.environ.items() if k not in ("INVARLOCK_DEBUG", "NO_COLOR")} | env
    if site is not None:
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), environ.get("PYTHONPATH")]))
    command = exe or [sys.executable, "-m", "invarlock"]
    return subprocess.run([*command, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300)


def test_python_dash_m_invarlock_is_the_cli(tmp_path: Path) -> None:
    done = _run(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.startswith("invarlock ")


def test_version_names_every_certificate_schema_it_writes(tmp_path: Path) -> None:
    """It said schema=v1 while a default causal run writes v2 (its secondary metrics)."""
    done = _run(tmp_path, "--version")
    assert done.stdout.rstrip("\n").endswith(f"· schema={','.join(SCHEMA_VERSIONS)}"), done.stdout


def test_plugins_lists_built_ins_and_a_plugin_with_origin_and_load_status(tmp_path: Path, site: Path) -> None:
    done = _run(tmp_path, "plugins", "guards", "--json", site=site)  # a fresh process finds it by entry point
    rows = {r["name"]: r for r in json.loads(done.stdout)["plugins"]}
    assert done.returncode == 0 and {r["group"] for r in rows.values()} == {"guards"}
    assert rows["spectral"]["origin"] == "built-in" and rows["spectral"]["loads"]
    plugin = rows["max_abs_weight"]
    assert (plugin["origin"], plugin["distribution"], plugin["version"]) == (
        "invarlock-scale-all 0.2.1", "invarlock-scale-all", "0.2.1",
    )  # fmt: skip
    assert plugin["loads"] and plugin["error"] is None


@pytest.mark.usefixtures("with_plugin")
def test_a_broken_plugin_is_listed_with_its_error_and_breaks_nothing_else(cert: Path) -> None:
    found = registry_module.registry()
    statuses = {e.name: found.check(e) for e in found.entries if e.distribution == "invarlock-scale-all"}
    assert "ImportError: invarlock_scale_all.broken needs a library" in (statuses["broken_edit"].error or "")
    assert statuses["scale_all"].error is None and statuses["jsonl_prompt"].error is None
    assert CliRunner().invoke(cli, ["verify", str(cert)]).exit_code == 0


@pytest.mark.usefixtures("with_plugin")
def test_a_config_naming_a_guard_entry_that_is_no_guard_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"guards": {"order": ["invariants", "norm_ratio", "invariants"]}, "edit": {"name": "quant_rtn"}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", "-c", "cfg.yaml", "--events", "ev.duckdb"])
    error = result.exception
    assert isinstance(error, UsageError) and error.code == "E223" and error.exit_code == 2
    assert error.message.startswith("guard plugin 'norm_ratio' (invarlock-scale-all 0.2.1) is not a guard")
    assert not (tmp_path / "ev.duckdb").exists()


@pytest.mark.parametrize("command", ["run", "certify"])
@pytest.mark.parametrize(
    ("guards", "said"),
    [
        ({"variance": {"mode": False}}, "guards.variance.mode is false"),
        ({"rmt": {"modee": "gate"}}, "guards.rmt.modee"),
    ],
)
def test_a_guard_setting_error_names_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, guards: dict, said: str
) -> None:  # type: ignore[type-arg]
    """The run's preflight said "guards.variance.mode is false" without the file (stop 61's configs hunt)."""
    config = {"guards": guards, "edit": {"name": "quant_rtn"}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    given = ["-c", "cfg.yaml"] if command == "run" else ["--preset", "cfg.yaml", "--baseline", "a", "--subject", "b"]
    result = CliRunner().invoke(cli, [command, *given, "--events", "ev.duckdb"])
    error = result.exception
    assert isinstance(error, UsageError) and error.code == "E202" and error.message.startswith(f"cfg.yaml: {said}")
    assert not (tmp_path / "ev.duckdb").exists()


def test_the_doctors_guard_setting_error_names_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The doctor's D202 named the key only where run and certify name the file (stop 62's note)."""
    config = {"guards": {"variance": {"clamp": [0.5, 9]}}, "edit": {"name": "quant_rtn", "plan": {"bits": 8}}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["doctor", "-c", "cfg.yaml", "--events", "ev.duckdb", "--json"])
    errors = [f for f in json.loads(result.stdout)["findings"] if f["severity"] == "error" and f["check"] == "policy"]
    assert [f["code"] for f in errors] == ["D202"]  # (without the hf extra, D105 is an error of another check)
    assert errors[0]["message"].startswith("cfg.yaml: guards.variance.clamp = [0.5, 9] differs from the balanced")
    flagged = CliRunner().invoke(cli, ["doctor", "-c", "cfg.yaml", "--tier", "nope", "--json"])
    said = [f["message"] for f in json.loads(flagged.stdout)["findings"] if f["check"] == "policy"]
    assert said == ["unknown tier 'nope'"], "a flag's tier is not the file's"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_shell_script(shell: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0 and "_INVARLOCK_COMPLETE" in result.output


def test_completion_completes_command_names(tmp_path: Path) -> None:
    exe = [str(Path(sys.executable).with_name("invarlock"))]
    env = {"_INVARLOCK_COMPLETE": "bash_complete", "COMP_WORDS": "invarlock pl", "COMP_CWORD": "1"}
    done = _run(tmp_path, exe=exe, **env)
    assert done.returncode == 0 and "plain,plugins" in done.stdout.splitlines()


def test_quiet_prints_nothing_but_keeps_the_exit_code(tmp_path: Path, cert: Path) -> None:
    loud, quiet = CliRunner().invoke(cli, ["verify", str(cert)]), _run(tmp_path, "--quiet", "verify", str(cert))
    assert loud.exit_code == quiet.returncode == 0 and "Verdict: PASS" in loud.output
    assert quiet.stdout == "" and quiet.stderr == ""
    as_json = CliRunner().invoke(cli, ["-q", "verify", str(cert), "--json"])
    assert json.loads(as_json.output)["verdict"] == "PASS", "--json output is what was asked for"


def test_quiet_and_verbose_together_are_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["-q", "-v", "plugins", "metrics"])
    assert result.exit_code == 2 and "--quiet and --verbose cannot be combined" in result.output


@pytest.mark.parametrize("command", ["certify", "run", "calibrate"])
def test_a_commands_own_quiet_is_the_global_quiet(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`invarlock COMMAND -q` prints exactly what `invarlock -q COMMAND` prints (here: a certify/run summary
    dropped, the exit code kept), and like it cannot be combined with --verbose."""
    done = api.CertifyResult(certificate=fake_certificate(), path=tmp_path / "evaluation.cert.json")
    monkeypatch.setattr(commands_run, "certify_config", lambda *args: (None, None))
    monkeypatch.setattr(commands_run, "run_config", lambda *args: None)
    monkeypatch.setattr(commands_run, "build_request", lambda *args: None)
    monkeypatch.setattr(commands_run.api, "run_request", lambda request, **kw: done)
    runner = CliRunner()
    if command != "calibrate":
        loud = runner.invoke(cli, [command])
        own, top = runner.invoke(cli, [command, "-q"]), runner.invoke(cli, ["-q", command])
        assert loud.exit_code == own.exit_code == top.exit_code == 0 and "Verdict: PASS" in loud.output
        assert own.output == top.output == "", (own.output, top.output)
    clash = runner.invoke(cli, ["-v", command, "-q"])
    assert clash.exit_code == 2 and "--quiet and --verbose cannot be combined" in clash.output


def test_colour_only_without_no_color(cert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = runner.invoke(cli, ["verify", str(cert)], color=True)
    monkeypatch.setenv("NO_COLOR", "1")
    plain = runner.invoke(cli, ["verify", str(cert)], color=True)
    assert coloured.exit_code == plain.exit_code == 0
    assert ANSI in coloured.output and ANSI not in plain.output
    assert "Verdict: PASS" in plain.output


@pytest.mark.parametrize("kind", ["accuracy", "embedding_cosine"])
def test_every_kinds_verdict_line_is_styled_as_the_perplexity_one(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The accuracy, cosine and rollback verdict lines printed the bare status; only perplexity's was coloured."""
    cert = accuracy_certificate() if kind == "accuracy" else embedding_certificate()
    said: list[str] = []
    monkeypatch.setattr(run_summary.console, "say", said.append)
    run_summary._report(cert, Path("c.json"), {"as_json": False, "export_dir": None, "events": "ev.duckdb"})
    [line] = [s for s in said if s.startswith("Verdict: ")]
    assert line.startswith(f"Verdict: {console.verdict(cert.verdict.status)}  "), line


def test_what_a_plugin_prints_on_import_goes_to_stderr(tmp_path: Path) -> None:
    """`plugins --json` printed a plugin module's import-time print first, so stdout held two lines (the tools
    hunt): entry points load with stdout sent to stderr."""
    site = tmp_path / "site"
    info = site / "chatty-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "chatty_plugin.py").write_text("print('hello from plugin import')\nedit = object()\n", encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: chatty\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[invarlock.edits]\nchatty = chatty_plugin:edit\n", encoding="utf-8")
    done = _run(tmp_path, "plugins", "edits", "--json", site=site)
    names = [row["name"] for row in json.loads(done.stdout)["plugins"]]
    assert done.stdout.count("\n") == 1 and "chatty" in names, done.stdout
    assert "hello from plugin import" in done.stderr
