"""Every command's error is one line with its exit code; `--json` always prints its envelope; a core-only install
(no torch) names the extra to install; an event file that is not DuckDB is named as such."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from invarlock.domain import certificate as c

from tests.fakes.certificates import fake_certificate

# Runs the real entry point with torch (and the rest of the hf extra) unimportable, as in a core-only install.
WITHOUT_TORCH = (
    "import sys\n"
    "for name in ('torch', 'transformers', 'safetensors', 'accelerate'):\n"
    "    sys.modules[name] = None\n"
    "sys.argv[0] = 'invarlock'\n"
    "from invarlock.cli.main import main\n"
    "main()\n"
)


def _run(cwd: Path, *args: str, without_torch: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "INVARLOCK_DEBUG"}
    head = ["-c", WITHOUT_TORCH] if without_torch else ["-m", "invarlock"]
    command = [sys.executable, *head, *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def _error_line(done: subprocess.CompletedProcess[str], code: str, exit_code: int) -> str:
    [line] = done.stderr.splitlines()
    assert done.returncode == exit_code and line.startswith(f"ERROR [INVARLOCK:{code}]"), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    return line


@pytest.mark.parametrize(
    "args",
    [
        ["certify", "--demo"],
        ["run", "--demo"],
        ["certify", "--baseline", "some/model", "--subject", "other/model"],
        ["calibrate"],
    ],
)
def test_without_torch_model_commands_name_the_extra_to_install(tmp_path: Path, args: list[str]) -> None:
    done = _run(tmp_path, *args, "--events", "ev.duckdb", without_torch=True)
    line = _error_line(done, "E105", 2)
    assert "pip install 'invarlock[hf]'" in line and "torch" in line
    assert not (tmp_path / "ev.duckdb").exists()


def test_without_torch_verify_still_works(tmp_path: Path) -> None:
    (tmp_path / "cert.json").write_bytes(c.to_bytes(fake_certificate()))
    done = _run(tmp_path, "verify", "cert.json", "--json", without_torch=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("errors")
    (root / "cert.json").write_bytes(c.to_bytes(fake_certificate()))
    (root / "x.json").write_text('{"runs": []}\n', encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "--events", "x.json"],
        ["events", "run-0", "--events", "x.json"],
        ["audit", "--sql", "SELECT 1 AS one", "--events", "x.json"],
        ["replay", "run-0", "--events", "x.json"],
        ["verify", "cert.json", "--events", "x.json"],
        # Without torch these two stop earlier, on the missing extra (E105, tested above): they need the hf extra.
        pytest.param(["certify", "--demo", "--events", "x.json"], marks=pytest.mark.hf),
        pytest.param(["run", "--demo", "--events", "x.json"], marks=pytest.mark.hf),
    ],
)
def test_an_event_file_that_is_not_duckdb_is_not_an_invarlock_store(folder: Path, args: list[str]) -> None:
    before = (folder / "x.json").read_bytes()
    done = _run(folder, *args)
    if args[0] == "verify":
        assert done.returncode == 2 and "FAIL  input: x.json exists but is not an InvarLock event store" in done.stdout
    line = _error_line(done, "E501", 2)
    assert "x.json exists but is not an InvarLock event store" in line and "writable" not in line
    assert (folder / "x.json").read_bytes() == before


@pytest.mark.parametrize("command", ["verify", "runs", "replay"])
def test_a_duckdb_file_of_another_program_is_e501_everywhere(tmp_path: Path, command: str) -> None:
    """verify --events used to report it as a failed integrity check (exit 3) where the others said E501 (exit 2):
    no check of the certificate ran, the recipient named the wrong file."""
    import duckdb

    (tmp_path / "cert.json").write_bytes(c.to_bytes(fake_certificate()))
    with duckdb.connect(str(tmp_path / "other.duckdb")) as con:
        con.execute("CREATE TABLE events (run_id VARCHAR)")
    before = (tmp_path / "other.duckdb").read_bytes()
    args = {"verify": ["verify", "cert.json"], "runs": ["runs"], "replay": ["replay", "run-0"]}[command]
    done = _run(tmp_path, *args, "--events", "other.duckdb")
    line = _error_line(done, "E501", 2)
    assert "other.duckdb exists but is not an InvarLock event store" in line
    if command == "verify":
        assert "FAIL  input: other.duckdb exists but is not an InvarLock event store" in done.stdout
        assert "Verdict:" not in done.stdout
    assert (tmp_path / "other.duckdb").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["runs", "--events", "missing.duckdb"], "E506"),
        (["events", "run-0", "--events", "missing.duckdb"], "E506"),
        (["audit", "--sql", "SELECT nope", "--events", "x.json"], "E501"),
        (["audit", "--events", "x.json"], "E200"),
        (["certify", "--tier", "strictest", "--events", "ev.duckdb"], "E200"),
        (["run", "--events", "ev.duckdb"], "E200"),
    ],
)
def test_json_prints_its_error_envelope_on_every_command(folder: Path, args: list[str], code: str) -> None:
    done = _run(folder, *args, "--json")
    line = _error_line(done, code, 2)
    envelope = json.loads(done.stdout)
    assert envelope["ok"] is False and envelope["exit_code"] == 2 and envelope["error"]["code"] == code
    assert envelope["error"]["message"] in line


def test_verify_json_keeps_its_own_envelope_on_error(folder: Path) -> None:
    done = _run(folder, "verify", "missing.json", "--json")
    envelope = json.loads(done.stdout)  # exactly one JSON document: the verify envelope, not a second one
    assert done.returncode == 2 and envelope["format_version"] == "verify-v1" and envelope["error"]["code"] == "E600"
    assert envelope["error"]["hint"] == "check the path"  # the fix the one-line error gives after its dash


@pytest.mark.parametrize(
    "env", [{"COMP_WORDS": "invarlock events ", "COMP_CWORD": "abc"}, {}], ids=["malformed COMP_CWORD", "no COMP_WORDS"]
)
def test_a_malformed_shell_completion_environment_is_e200_not_e999(env: dict[str, str]) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COMP_")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "invarlock")],  # click names the variable after the program
        env={**environ, "_INVARLOCK_COMPLETE": "bash_complete", **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith("ERROR [INVARLOCK:E200] the shell completion variables")


@pytest.mark.parametrize(
    "given",
    [
        ("--exact",),
        ("--sequential",),
        ("--sample", "8"),
        ("--sample", "0"),
        ("--sample-seed", "0"),
        ("--device", "cuda"),
    ],
)
def test_an_audit_option_without_models_is_a_usage_error_not_an_ignored_flag(
    folder: Path, given: tuple[str, ...]
) -> None:
    # Only --exact was refused: --sample 8 or --sample-seed 5 without --baseline verified with exit 0 and no audit.
    done = _run(folder, "verify", "cert.json", *given)
    line = _error_line(done, "E200", 2)
    assert f"{given[0]} applies to the re-execution audit, which runs only with --baseline" in line, line
    assert "Verdict:" not in done.stdout


def test_an_audit_option_without_models_under_json_is_the_verify_envelope(folder: Path) -> None:
    """It was refused before the command ran, so --json printed the generic error-v1 envelope, not verify-v1
    with an error member as for every other verify error."""
    from tests.fakes.cli import run_cli

    code, out, err = run_cli("verify", folder / "cert.json", "--exact", "--json")
    [line] = out.splitlines()
    envelope = json.loads(line)
    assert code == 2 and envelope["format_version"] == "verify-v1" and envelope["error"]["code"] == "E200"
    assert envelope["exit_code"] == 2
    # and the one ERROR line on stderr every command's error prints, --json or not (it printed none: stop-62 hunt)
    assert err.splitlines() == [f"ERROR [INVARLOCK:E200] {envelope['error']['message']} — {envelope['error']['hint']}"]


@pytest.mark.parametrize(
    "args", [("verify", "--json", "--no-such-option"), ("-q", "verify", "--json", "--sample", "x")]
)
def test_verify_json_is_the_verify_envelope_for_an_error_raised_past_the_command_too(folder: Path, args) -> None:
    """click refuses these before verify runs, and main printed the generic error-v1 envelope for them (as for a
    plugin's fault or Ctrl-C during an audit), where the user guide promises verify-v1 with an error member."""
    from tests.fakes.cli import run_cli

    code, out, err = run_cli(*args)
    [line] = out.splitlines()
    envelope = json.loads(line)
    assert (envelope["format_version"], envelope["ok"], envelope["exit_code"], code) == ("verify-v1", False, 2, 2)
    assert envelope["error"]["code"] == "E200" and envelope["checks"] == [] and envelope["verdict"] is None
    assert err.startswith("ERROR [INVARLOCK:E200]")
    code, out, _ = run_cli("runs", "--json", "--no-such-option")
    assert code == 2 and json.loads(out)["format_version"] == "error-v1"


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_a_terminal_that_cannot_encode_a_character_gets_its_escape_not_e999(folder: Path, encoding: str) -> None:
    # verify ended half way through its report with E999 UnicodeEncodeError under PYTHONIOENCODING=latin-1.
    env = {k: v for k, v in os.environ.items() if k != "INVARLOCK_DEBUG"} | {"PYTHONIOENCODING": encoding}
    command = [sys.executable, "-m", "invarlock", "verify", "cert.json"]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, timeout=300, check=False)
    # click takes an ASCII stream for a misconfigured locale and writes UTF-8 to it; latin-1 it respects
    written = "utf-8" if encoding == "ascii" else encoding
    out, err = done.stdout.decode(written), done.stderr.decode(written)
    assert done.returncode == 0 and err == "" and out.splitlines()[-1] == "Verdict: PASS  (exit 0)", out + err
    if encoding == "latin-1":
        assert "seq_len \\u2212 1" in out  # the minus sign latin-1 lacks, escaped
    done = subprocess.run(
        [*command[:3], "verify", "absent.json"], cwd=folder, env=env, capture_output=True, check=False
    )
    assert done.returncode == 2 and done.stderr.decode(written).startswith("ERROR [INVARLOCK:E600]")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a device whose writes fail ENOSPC)")
@pytest.mark.parametrize("args", [("--version",), ("plugins", "--json"), ("verify", "cert.json")])
def test_standard_output_on_a_full_device_is_e608_not_e999(folder: Path, args: tuple[str, ...]) -> None:
    # `invarlock verify CERT > /dev/full` ended "E999 unexpected OSError: [Errno 28] No space left on device".
    with open("/dev/full", "w", encoding="utf-8") as full:
        command = [sys.executable, "-m", "invarlock", *args]
        done = subprocess.run(command, cwd=folder, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    [line] = done.stderr.splitlines()
    assert done.returncode == 2 and line.startswith("ERROR [INVARLOCK:E608] cannot write to standard output: "), line


@pytest.mark.parametrize("args", [("--version",), ("plugins", "--json"), ("verify", "cert.json", "--json")])
def test_a_closed_standard_output_is_e608_not_e999(folder: Path, args: tuple[str, ...]) -> None:
    """`>&-`: Python sets sys.stdout to None and every command ended "E999 unexpected AttributeError" (stop 62)."""
    command = [sys.executable, "-m", "invarlock", *args]
    done = subprocess.run(
        command, cwd=folder, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300,
        preexec_fn=lambda: os.close(1),  # the child's descriptor 1, closed as `>&-` closes it
    )  # fmt: skip
    [line] = done.stderr.splitlines()
    assert done.returncode == 2 and line.startswith("ERROR [INVARLOCK:E608] cannot write to standard output"), line


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="Linux /proc")
@pytest.mark.parametrize("args", [("verify",), ("report", "md", "-o", "out.md")])
def test_a_certificate_the_kernel_cannot_read_is_e600_not_e999(folder: Path, args: tuple[str, ...]) -> None:
    """/proc/self/mem stats as a regular file and fails its read with EIO: an OSError that reached E999."""
    done = _run(folder, *args[:2], "/proc/self/mem", *args[2:])
    assert "cannot be read: Input/output error" in _error_line(done, "E600", 2)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("runs", "--events", ""), "--events"),  # named the current folder: "event store . is a directory"
        (("verify", "cert.json", "--tier", "balanced", "--profile", " "), "--profile"),  # ignored: exit 0
        (("report", "md", "", "-o", "out.md"), "CERTIFICATE"),
    ],
)
def test_an_empty_value_is_refused_naming_the_option(folder: Path, args: tuple[str, ...], option: str) -> None:
    """`--tier ''` fell back to the default tier and `--cert-out ''` wrote to the current folder (exit 0). A value
    the command needs is not to be left out (the hint said so of `report`'s CERTIFICATE and -o as well)."""
    line = _error_line(_run(folder, *args), "E200", 2)
    said = "give a value" if option == "CERTIFICATE" else "give a value, or leave it out"
    assert f"Invalid value for '{option}': is empty: {said} — " in line, line


@pytest.mark.parametrize("args", [(), ("report",)])
def test_a_group_without_its_command_prints_its_help(folder: Path, args: tuple[str, ...]) -> None:
    """click 8.2 raises for it: the whole help text came out as one E200 line with literal \\n, cut off."""
    done = _run(folder, *args)
    assert done.returncode == 0 and done.stderr == "" and done.stdout.startswith("Usage: ")
    assert "Commands:" in done.stdout and "\\n" not in done.stdout


def test_an_error_before_verify_is_loaded_gets_error_v1_and_imports_nothing(monkeypatch) -> None:
    """The regression hunt: Ctrl-C that cut the import of verify's modules, then an envelope that imported them
    again, ended in two tracebacks and exit 1 (half-imported numpy); what is not loaded is not imported."""
    from invarlock.cli import main

    monkeypatch.delitem(sys.modules, "invarlock.cli.commands_verify", raising=False)
    monkeypatch.setattr(sys, "argv", ["invarlock", "verify", "--json", "cert.json"])
    said = json.loads(main._envelope(main._Failure(130, "E000", "interrupted", "run it again")))
    assert said["format_version"] == "error-v1" and said["error"]["code"] == "E000"
    assert "invarlock.cli.commands_verify" not in sys.modules
