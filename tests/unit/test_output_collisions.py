"""Outputs that replaced what a user holds (the file-system and signing hunts): `report -o` and `replay -o` over a
private key or another run's certificate, `--cert-out` over an earlier run's certificate, and outputs that collide
with each other (`--export` naming the event store was E999 after the whole run). Each is E608, nothing written."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from invarlock.adapters.ed25519 import generate_keypair

from tests.fakes.cli import run_cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"
CERT = FIXTURE / "run.cert.json"
RUN_ID = json.loads(CERT.read_bytes())["run_id"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _store(tmp_path: Path) -> Path:
    return Path(shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "invarlock.duckdb"))


def _other_runs_certificate(path: Path) -> Path:
    held = json.loads(CERT.read_bytes())
    path.write_text(json.dumps({**held, "run_id": "another-run"}), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["report html", "report md", "replay"])
@pytest.mark.parametrize("held", ["a private key", "notes", "another run's certificate"])
def test_an_output_over_a_file_it_did_not_write_is_refused(tmp_path: Path, command: str, held: str) -> None:
    target = tmp_path / "target"
    if held == "a private key":
        generate_keypair(target)
    elif held == "notes":
        target.write_text("my notes\n", encoding="utf-8")
    else:
        _other_runs_certificate(target)
    before = _digest(target)
    args = ["replay", RUN_ID, "--events", _store(tmp_path)] if command == "replay" else [*command.split(), CERT]
    code, _, err = run_cli(*args, "-o", target)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E608]"), err
    kind = f"a certificate of run {RUN_ID}" if command == "replay" else "an InvarLock report"
    assert f"it holds something other than {kind}, which the write would replace" in err and err.count("\n") == 1
    assert _digest(target) == before


@pytest.mark.parametrize("command", ["report html", "report md", "replay"])
def test_an_output_over_what_the_command_wrote_before_is_written_again(tmp_path: Path, command: str) -> None:
    target = tmp_path / ("c" * 250)  # a name of 250 bytes: the staging file's name went past NAME_MAX
    args = ["replay", RUN_ID, "--events", _store(tmp_path)] if command == "replay" else [*command.split(), CERT]
    for _ in range(2):
        code, _, err = run_cli(*args, "-o", target)
        assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".duckdb") == [target.name]


@pytest.mark.parametrize("command", ["certify --demo", "certify --resume r1", "doctor"])
def test_a_cert_out_holding_another_runs_certificate_is_refused_before_the_run(tmp_path: Path, command: str) -> None:
    """The file-system hunt: a second run with the same --cert-out replaced the first run's certificate, which no
    command issues again without its store."""
    (tmp_path / "out").mkdir()
    held = _other_runs_certificate(tmp_path / "out" / "evaluation.cert.json")
    before = _digest(held)
    code, out, err = run_cli(*command.split(), "--cert-out", tmp_path / "out", "--events", tmp_path / "ev.duckdb")
    assert code == 2, (out, err)
    said = out if command == "doctor" else err
    whose = "run r1's" if "resume" in command else "a new run's"
    assert f"already holds evaluation.cert.json, which {whose} certificate would replace" in said, said
    assert _digest(held) == before and not (tmp_path / "ev.duckdb").exists()


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--export", "{ev}"], "--events '{ev}' is inside --export '{ev}'"),
        (["--export", "{dir}"], "--events '{ev}' is inside --export '{dir}'"),
        (["--cert-out", "{dir}", "--export", "{dir}"], "--events '{ev}' is inside --export '{dir}'"),
        (["--cert-out", "{ev}"], "--cert-out '{ev}' and --events '{ev}' collide"),
    ],
)
def test_outputs_that_collide_are_refused_before_the_run(tmp_path: Path, flags: list[str], says: str) -> None:
    names = {"ev": str(tmp_path / "new" / "ev.duckdb"), "dir": str(tmp_path / "new")}
    given = [flag.format(**names) for flag in flags]
    code, _, err = run_cli("certify", "--demo", "--events", names["ev"], *given)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E608]") and says.format(**names) in err, err
    assert not (tmp_path / "new").exists()
