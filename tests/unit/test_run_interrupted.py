"""Ctrl-C during a recorded run says how to go on with that run: its id and `certify --resume`, or `replay` once
its certificate is recorded (the E000 hint named neither the run nor the command that finishes it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit, resume_run
from invarlock.application.config import ModelConfig
from invarlock.application.services import Services
from invarlock.cli.lazy_group import Interrupted
from invarlock.cli.main import _failure
from invarlock.domain import events as ev
from invarlock.domain.errors import ResourceShortage, RunInterrupted

from tests.fakes.killing_store import KillingStore
from tests.fakes.models import FakeModel
from tests.unit.conftest import small_config


def _request(export: str | None = None) -> CertifyRequest:
    return CertifyRequest(
        "certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev", export=export
    )


def _cli_line(exc: KeyboardInterrupt) -> tuple[int, str, str]:
    """What the CLI prints for it: the group re-raises a command's Ctrl-C as Interrupted from it."""
    try:
        raise Interrupted() from exc
    except Interrupted as wrapped:
        failure = _failure(wrapped)
    return failure.exit_code, failure.code, failure.hint


def test_ctrl_c_while_scoring_names_the_run_and_certify_resume(services: Services) -> None:
    at_scores = KillingStore(
        services.store, lambda events: any(isinstance(e, ev.WindowsScored) for e in events), before=True
    )
    with pytest.raises(RunInterrupted) as stopped:
        certify_edit(_request(), dataclasses.replace(services, store=at_scores))  # type: ignore[arg-type]
    run_id = stopped.value.run_id
    assert _cli_line(stopped.value) == (130, "E000", f"finish run {run_id} with `invarlock certify --resume {run_id}`")
    assert resume_run(run_id, services).run_id == run_id  # the hint's command finishes it


def test_ctrl_c_after_the_certificate_is_recorded_names_replay(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ctrl_c(self: FakeModel, directory: str | Path) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(FakeModel, "export", ctrl_c)  # --export runs after the certificate is recorded
    with pytest.raises(RunInterrupted) as stopped:
        certify_edit(_request(export=str(tmp_path / "out")), services)
    run_id = stopped.value.run_id
    hint = f"run {run_id} has its certificate: `invarlock replay {run_id} -o FILE` writes it"
    assert _cli_line(stopped.value)[2] == hint


def test_ctrl_c_outside_a_run_keeps_the_general_hint() -> None:
    assert "certify --resume RUN_ID" in _cli_line(KeyboardInterrupt())[2]


@pytest.mark.parametrize(
    ("events", "named"),
    [
        ("runs/invarlock.duckdb", ""),
        ("./runs/invarlock.duckdb", ""),
        ("my runs/ev.duckdb", " --events 'my runs/ev.duckdb'"),
    ],
)
@pytest.mark.parametrize("completed", [False, True])
def test_the_hint_names_an_event_store_other_than_the_default(events: str, named: str, completed: bool) -> None:
    """Its resume (or replay) looked in the default store, which holds no such run: E404 when followed."""
    from invarlock.cli.stopped_runs import naming_the_store

    with pytest.raises(RunInterrupted) as stopped, naming_the_store(events):
        raise RunInterrupted("run-7", completed)
    command = "replay run-7" if completed else "certify --resume run-7"
    assert f"`invarlock {command}{named}" in _cli_line(stopped.value)[2]


def test_the_resume_repeats_the_signing_key_and_the_outputs_the_run_was_given() -> None:
    # A signed run resumed as the hint said issued an unsigned certificate (the run records no signing key), and
    # wrote it to the default folder, exporting nothing.
    from invarlock.cli.stopped_runs import naming_the_store

    outputs = [("--sign-key", "k.key"), ("--cert-out", "my certs"), ("--export", None)]
    with pytest.raises(RunInterrupted) as stopped, naming_the_store("ev.duckdb", outputs):
        raise RunInterrupted("run-7", False)
    resume = "`invarlock certify --resume run-7 --events ev.duckdb --sign-key k.key --cert-out 'my certs'`"
    assert _cli_line(stopped.value)[2] == f"finish run run-7 with {resume}"


def test_a_calibration_stopped_in_a_case_names_the_calibrate_resume_that_goes_on(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invarlock.cli import commands_calibrate

    def interrupted(*args: object, **kwargs: object) -> None:
        raise RunInterrupted("run-3", False)

    monkeypatch.setattr(commands_calibrate, "run_suite", interrupted)
    monkeypatch.setattr(commands_calibrate, "build_services", lambda **kwargs: services)
    out, suite = tmp_path / "my cal", tmp_path / "s.yaml"
    suite.write_text("cases: [{name: identical, kind: benign}]\n")
    with pytest.raises(RunInterrupted) as stopped:
        commands_calibrate.calibrate_cmd.callback(str(suite), str(out), "ev.duckdb", None, "dev")
    assert _cli_line(stopped.value)[2] == (
        f"calibrate stopped in a case (run run-3); go on with `invarlock calibrate --resume --suite {suite} "
        f"--out '{out}' --events ev.duckdb --profile dev`"
    )


@pytest.mark.parametrize(
    ("events", "named"),
    [("runs/invarlock.duckdb", ""), ("my runs/ev.duckdb", " --events 'my runs/ev.duckdb'")],
)
def test_a_run_stopped_by_a_full_disk_names_the_run_and_its_store_in_the_hint(events: str, named: str) -> None:
    """ResourceShortage (E608 of the kept hidden states): not recorded as failed, so the hint says how to go on."""
    from invarlock.cli.stopped_runs import naming_the_store

    with pytest.raises(ResourceShortage) as stopped, naming_the_store(events):
        short = ResourceShortage("E608", "the disk is full", "free space there")
        short.stopped("run-7")
        raise short
    resume = f"`invarlock certify --resume run-7{named}`"
    assert stopped.value.hint == f"free space there; run run-7 goes on where it stopped with {resume}"
    assert stopped.value.one_line().startswith("ERROR [INVARLOCK:E608] the disk is full — free space there; run run-7")


def test_a_full_disk_before_any_run_started_names_no_run() -> None:
    from invarlock.cli.stopped_runs import naming_the_store

    with pytest.raises(ResourceShortage) as stopped, naming_the_store("my runs/ev.duckdb"):
        raise ResourceShortage("E608", "the disk is full", "free space there")
    assert stopped.value.hint == "free space there" and stopped.value.run_id is None


@pytest.mark.parametrize("code", ["E505", "E608"])
def test_a_run_stopped_by_the_machine_repeats_the_outputs_its_resume_needs(code: str) -> None:
    """The resume hunt: a store held by another process (E505) printed a resume without --sign-key/--cert-out, which
    issued an unsigned certificate in the default folder (the Ctrl-C hint repeated them)."""
    from invarlock.cli.stopped_runs import naming_the_store

    outputs = [("--sign-key", "k/my key"), ("--cert-out", "out"), ("--export", None)]
    with pytest.raises(ResourceShortage) as stopped, naming_the_store("st/a.duckdb", outputs):
        short = ResourceShortage(code, "held", "wait")
        short.stopped("run-7")
        raise short
    resume = "`invarlock certify --resume run-7 --events st/a.duckdb --sign-key 'k/my key' --cert-out out`"
    assert stopped.value.hint == f"wait; run run-7 goes on where it stopped with {resume}"


def test_the_python_api_hint_names_the_store_and_the_outputs_as_the_cli_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook's Ctrl-C said `invarlock certify --resume ID` alone: E506 followed (the store was not named),
    and a signed run resumed unsigned (the API hunt)."""
    from invarlock.cli import api

    def stopped(*args: object) -> None:
        raise RunInterrupted("run-7", False)

    monkeypatch.setattr(api, "certify_edit", stopped)
    monkeypatch.setattr(api, "_services", lambda *args: None)
    events, certs = tmp_path / "ev.duckdb", tmp_path / "certs"
    with pytest.raises(RunInterrupted) as caught:
        api.run_request(_request(), events=events, cert_out=certs, sign_key="k.key")
    resume = f"`invarlock certify --resume run-7 --events {events} --sign-key k.key --cert-out {certs}`"
    assert caught.value.hint == f"finish run run-7 with {resume}"


def test_a_resumed_run_writes_to_the_recorded_output_folder_with_home_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`output.dir: ~/rep` went to a folder named `~` in the working folder on resume (certify expands it)."""
    import msgspec
    from invarlock.application.certification.certify import CertifyOutcome
    from invarlock.cli import api

    from tests.fakes.certificates import fake_certificate

    cert = fake_certificate()
    config = {**cert.provenance.config, "output": {"dir": "~/rep"}}
    cert = msgspec.structs.replace(cert, provenance=msgspec.structs.replace(cert.provenance, config=config))
    monkeypatch.setattr(api, "resume_run", lambda *args, **kwargs: CertifyOutcome(cert.run_id, cert))
    monkeypatch.setattr(api, "_services", lambda *args: None)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ev.duckdb").write_bytes(b"")
    result = api.resume_certify(cert.run_id, events=tmp_path / "ev.duckdb")
    assert result.path == tmp_path / "home" / "rep" / cert.run_id / "evaluation.cert.json" and result.path.exists()
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize(("recorded", "export"), [("rep", "rep"), ("rep/certs", "rep"), ("rep", "rep/r")])
def test_a_resume_exporting_where_the_recorded_output_folder_is_is_refused_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorded: str, export: str
) -> None:
    """`certify --resume RUN --export DIR` wrote the certificate into the subject's checkpoint folder when the run
    had recorded output.dir DIR (a fresh run refuses it; the regression hunt, stop 71)."""
    from types import SimpleNamespace

    from invarlock.adapters.duckdb_store import DuckDBEventStore
    from invarlock.cli import api
    from invarlock.domain import events as ev
    from invarlock.domain.errors import UsageError
    from invarlock.domain.policy import policy_digest, resolve_policy

    monkeypatch.chdir(tmp_path)
    store = DuckDBEventStore(tmp_path / "ev.duckdb")
    policy = resolve_policy("balanced", "dev")
    started = ev.RunStarted(
        run_id="r", command="certify", started_at="t", tool_version="0", config={"output": {"dir": recorded}},
        policy=policy, policy_digest=policy_digest(policy), seeds={"dataset": 1}, environment={},
    )  # fmt: skip
    store.append("r", 0, [started])
    monkeypatch.setattr(api, "_services", lambda *args: SimpleNamespace(store=store))
    monkeypatch.setattr(api, "resume_run", lambda *args, **kwargs: pytest.fail("resumed"))
    with pytest.raises(UsageError) as refused:
        api.resume_certify("r", events=tmp_path / "ev.duckdb", export=tmp_path / export)
    said = f"the certificate goes to {recorded}/r (the run's recorded output.dir), at or inside --export"
    assert refused.value.code == "E608" and refused.value.message.startswith(said), refused.value.message
