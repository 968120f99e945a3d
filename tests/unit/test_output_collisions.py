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
        (["--export", "{ev}"], "--export '{ev}' collides with --events '{ev}': it would write {ev}"),
        (["--export", "{dir}"], "--events writes {ev}, at or inside --export '{dir}'"),
        (["--export", "{wal}"], "--export '{wal}' collides with --events '{ev}': it would write {wal}"),
        (["--export", "{wal}/y"], "--export '{wal}/y' collides with --events '{ev}': it would write {wal}/y"),
        (["--export", "{ev}/y"], "--export '{ev}/y' collides with --events '{ev}': it would write {ev}/y"),
        (["--cert-out", "{out}", "--export", "{out}"], "--cert-out writes {cert}, at or inside --export '{out}'"),
        (["--cert-out", "{out}", "--export", "{cert}"], "--cert-out writes {cert}, at or inside --export '{cert}'"),
        (["--cert-out", "{ev}"], "--cert-out '{ev}' collides with --events '{ev}': it would write {ev}/evaluation"),
        (["--cert-out", "{wal}"], "--cert-out '{wal}' collides with --events '{ev}': it would write {wal}/"),
        (["--cert-out", "{wal}/x"], "--cert-out '{wal}/x' collides with --events '{ev}'"),
        (["--out", "{wal}"], "output.dir (--out) '{wal}' collides with --events '{ev}'"),
        # the export hunt (stop 71): the certificate was written into the subject's checkpoint folder
        (["--out", "{out}", "--export", "{out}"], "output.dir (--out) writes {out}, at or inside --export '{out}'"),
        (["--out", "{out}/x", "--export", "{out}"], "output.dir (--out) writes {out}/x, at or inside --export"),
    ],
)
def test_outputs_that_collide_are_refused_before_the_run(tmp_path: Path, flags: list[str], says: str) -> None:
    new = tmp_path / "new"
    names = {
        "ev": str(new / "ev.duckdb"),
        "wal": str(new / "ev.duckdb.wal"),
        "dir": str(new),
        "out": str(tmp_path / "out"),
        "cert": str(tmp_path / "out" / "evaluation.cert.json"),
    }
    given = [flag.format(**names) for flag in flags]
    code, _, err = run_cli("certify", "--demo", "--events", names["ev"], *given)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E608]") and says.format(**names) in err, err
    assert not new.exists() and not (tmp_path / "out").exists()


def test_an_export_failing_after_the_certificate_was_issued_says_the_run_is_recorded(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The regression hunt: an export that failed after the run (a name too long, a full disk) gave E608 with no
    word that the run and its certificate are recorded, and the certificate's file is written only after it."""
    import msgspec
    from invarlock.application.certification.certify import CertifyRequest, certify_edit
    from invarlock.application.config import EditConfig
    from invarlock.domain.errors import UsageError

    from tests.fakes.models import FakeModel
    from tests.unit.conftest import small_config

    def fails(self: FakeModel, directory: object) -> None:
        raise UsageError("E608", f"cannot write the checkpoint to '{directory}': File name too long", "pass another")

    monkeypatch.setattr(FakeModel, "export", fails)
    config = msgspec.structs.replace(small_config(), edit=EditConfig(name="fake_scale", plan={"factor": 1.0}))
    request = CertifyRequest("run", config, None, tier="balanced", profile="dev", export="x" * 250)
    with pytest.raises(UsageError) as refused:
        certify_edit(request, services)
    assert refused.value.code == "E608" and refused.value.hint.startswith("pass another; run run-0 is recorded: ")
    assert [r.type for r in services.store.read("run-0")][-2:] == ["certificate_issued", "run_completed"]


def test_a_deeply_nested_json_file_in_the_way_is_e608_not_e999(tmp_path: Path) -> None:
    """The outputs hunt: certificate_of's decode hit the recursion limit on `[[[…]]]`, E999 from a 2 KB file."""
    target = tmp_path / "d.json"
    target.write_text("[" * 1000 + "]" * 1000, encoding="utf-8")
    code, _, err = run_cli("replay", RUN_ID, "--events", _store(tmp_path), "-o", target)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E608]") and "something other than" in err, err


@pytest.mark.parametrize("name", ["calibration.json", "calibration.md", ""])
def test_calibrate_refuses_a_store_that_is_its_out_or_a_table_file(tmp_path: Path, name: str) -> None:
    events = tmp_path / "o" / name if name else tmp_path / "o"
    code, _, err = run_cli("calibrate", "--out", tmp_path / "o", "--events", events)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E608]") and "which calibrate writes" in err, err
    assert not events.exists()


def test_a_folder_at_the_stores_wal_path_is_named_with_its_fix(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (tmp_path / "invarlock.duckdb.wal").mkdir()
    code, _, err = run_cli("runs", "--events", store)
    assert code == 2 and f"{store}.wal is a directory — move {store}.wal away" in err, err


@pytest.mark.parametrize(
    ("head", "theirs"),
    [
        (b"# PASS \xc2\xb7 InvarLock certificate run-1\n", True),
        (b"# InvarLock certificate run-1: PASS\n", True),  # an earlier release's title, run id first
        (b"<!DOCTYPE html>\n<html><head><title>FAIL \xc2\xb7 InvarLock certificate r</title>", True),
        (b"<!DOCTYPE html>\n<html><head><title>InvarLock certificate r: FAIL</title>", True),
        (b"# My notes\nInvarLock certificate \xc2\xb7 InvarLock certificate\n", False),
        (b"<!DOCTYPE html>\n<title>Notes</title><p> \xc2\xb7 InvarLock certificate </p>", False),
        # the reports hunt (stop 71): a user's notes titled so were replaced
        (b"# InvarLock certificate review notes\n\nMy notes\n", False),
        (b"<!DOCTYPE html>\n<html><head><title>InvarLock certificate notes</title>", False),
        (b"# NOT ESTABLISHED (the stated PASS is void: verify checks failed) \xc2\xb7 InvarLock certificate r\n", True),
    ],
)
def test_a_report_is_told_by_its_title_of_this_release_or_an_earlier_one(tmp_path: Path, head: bytes, theirs) -> None:
    from invarlock.cli.commands_report import _is_report

    path = tmp_path / "page"
    path.write_bytes(head)
    assert _is_report(path) is theirs
