"""The real `invarlock` CLI on the real demo model, real text and a real DuckDB file: in a subprocess
(`invarlock`) where a test is about the process (its exact stderr, a kill, concurrency, environment read at
import), otherwise in-process through the same console entry point (`invarlock_in_process`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.cli import run_cli

DEMO = "demo:smollm2-135m"
CLI_TIMEOUT_S = 600


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def invarlock(*args: str | Path, cwd: Path, extra_env: dict[str, str] | None = None) -> Result:
    """Run `python -m invarlock ARGS` in `cwd` with a quiet, offline environment (plus `extra_env`)."""
    env = {**os.environ, "INVARLOCK_ALLOW_NETWORK": "0", "PYTHONWARNINGS": "ignore", **(extra_env or {})}
    env.pop("INVARLOCK_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "invarlock", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def invarlock_in_process(*args: str | Path, cwd: Path, extra_env: dict[str, str] | None = None) -> Result:
    """`invarlock ARGS` as `invarlock()` runs it (same console entry point `main()`, same offline environment,
    in `cwd`), but in this process: for a command whose test is about what it records, prints and exits with,
    not about a fresh process. It saves each call the ~5 s import of torch and transformers."""
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    os.environ.update({"INVARLOCK_ALLOW_NETWORK": "0", **(extra_env or {})})
    os.environ.pop("INVARLOCK_DEBUG", None)
    os.chdir(cwd)
    try:
        code, out, err = run_cli(*args)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Result(code, out, err)


def assert_one_line_error(result: Result, code: str, exit_code: int) -> str:
    """The command failed with `exit_code` and exactly one `ERROR [INVARLOCK:<code>]` line, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == exit_code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1 and lines[0].startswith(f"ERROR [INVARLOCK:{code}]"), result.stderr
    assert " — " in lines[0], "the error must say how to fix it"
    return lines[0]


def write_config(path: Path, **sections: Any) -> Path:
    """A run config / preset YAML: the dev-size demo setup, overridden by `sections`."""
    config: dict[str, Any] = {
        "model": {"id": DEMO},
        "dataset": {"provider": "demo:wikipedia", "seq_len": 128, "preview_n": 4, "final_n": 8, "seed": 7},
        "profile": "dev",
    }
    config.update(sections)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def read_cert(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def stream_types(db: Path, run_id: str | None = None) -> dict[str, list[str]]:
    """Event types per run in the DuckDB file (opened read-only), or {} when the file holds none."""
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    if not db.exists():
        return {}
    store = DuckDBEventStore(db, read_only=True)
    ids = [run_id] if run_id else store.run_ids()
    return {rid: [r.type for r in store.read(rid)] for rid in ids}


@dataclass(frozen=True)
class CompletedRun:
    """One `invarlock run` on the demo model: its folder, certificate, event file and CLI result."""

    root: Path
    cert: Path
    events: Path
    result: Result

    @property
    def run_id(self) -> str:
        return str(read_cert(self.cert)["run_id"])


@pytest.fixture(scope="session")
def int8_run(tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    """The built-in int8 quant_rtn edit of the demo model on every linear layer, dev profile."""
    root = tmp_path_factory.mktemp("int8")
    config = write_config(
        root / "int8.yaml",
        dataset={"provider": "demo:wikipedia", "seq_len": 128, "preview_n": 6, "final_n": 12, "seed": 7},
        edit={"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}},
    )
    result = invarlock_in_process("run", "-c", config, "--cert-out", "out", "--events", "ev.duckdb", cwd=root)
    return CompletedRun(root, root / "out" / "evaluation.cert.json", root / "ev.duckdb", result)


@dataclass(frozen=True)
class InstalledPlugin:
    """The test plugin distribution laid out in `site` (tests/plugins/install.py): its name and version."""

    site: Path
    name: str
    version: str


@pytest.fixture(scope="session")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> InstalledPlugin:
    """The test plugin installed once per session for the plugin e2e tests (each runs the CLI with `site` on
    PYTHONPATH, see `plugin_cli`)."""
    from tests.plugins.install import install_plugin

    site = tmp_path_factory.mktemp("plugin") / "site"
    meta = install_plugin(site)
    return InstalledPlugin(site, meta["name"], meta["version"])


def plugin_cli(cwd: Path, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m invarlock ARGS` in a fresh process that finds the distributions installed in `site`."""
    env = {**os.environ, "INVARLOCK_ALLOW_NETWORK": "0", "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env.pop("INVARLOCK_DEBUG", None)
    command = [sys.executable, "-m", "invarlock", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
