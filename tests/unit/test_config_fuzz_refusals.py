"""Config values a fuzzing sweep found read silently or failing only after the weights loaded: each is refused in
one line before anything runs (E201/E202), naming the file and key."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from invarlock.application.calibrate.calibration import CalibrationCase, run_suite
from invarlock.application.config import parse_config
from invarlock.application.services import Services
from invarlock.cli.commands_run import edit_overlay
from invarlock.cli.config_file import read_yaml
from invarlock.cli.recipient_policy import _policy_data
from invarlock.domain.errors import UsageError

from tests.unit.conftest import _VE_WEIGHTS
from tests.unit.test_calibration_rows import _suite


def _refused(data: dict, code: str = "E201") -> str:  # type: ignore[type-arg]
    with pytest.raises(UsageError) as caught:
        parse_config(data, source="c.yaml")
    assert caught.value.code == code, caught.value.message
    return caught.value.message


@pytest.mark.parametrize(
    ("caps", "named"),
    [
        ({"cpu": "lots"}, "model.max_memory.cpu = 'lots' is not a size"),
        ({"cpu": "-5GiB"}, "model.max_memory.cpu = '-5GiB' is not a size"),
        ({"cpu": ""}, "model.max_memory.cpu = '' is not a size"),
        ({"-1": "1GiB"}, "model.max_memory names an unknown device '-1'"),
        ({"gpu0": "1GiB"}, "model.max_memory names an unknown device 'gpu0'"),
    ],
)
def test_a_max_memory_cap_that_is_no_size_or_device_is_refused_before_any_load(caps: dict, named: str) -> None:  # type: ignore[type-arg]
    assert _refused({"model": {"device_map": "auto", "max_memory": caps}}) == f"c.yaml: {named}"


def test_sizes_accelerate_reads_pass() -> None:
    caps = {"0": "20GiB", "cpu": "500MB", "disk": "1.5 TB"}
    assert parse_config({"model": {"device_map": "auto", "max_memory": caps}}, source="c.yaml").model.max_memory == caps


@pytest.mark.parametrize(
    ("execution", "named"),
    [
        ({"backend": "ray", "actors": 2**63}, "execution.actors must be in [1, 1024]"),
        ({"backend": "ray", "actors": 0}, "execution.actors must be in [1, 1024]"),
        ({"actors": 8}, "execution.actors and execution.address are read only with backend ray"),
        ({"address": "nonsense::"}, "execution.actors and execution.address are read only with backend ray"),
        # their default values, once accepted and recorded for a run no pool scored (the docs hunt)
        ({"actors": 2}, "execution.actors is read only with backend ray"),
        ({"backend": "inprocess", "address": "local"}, "execution.address is read only with backend ray"),
        ({"actors": 2, "address": "local"}, "execution.actors and execution.address are read only with backend ray"),
    ],
)
def test_ray_settings_out_of_range_or_without_ray_are_refused(execution: dict, named: str) -> None:  # type: ignore[type-arg]
    assert named in _refused({"execution": execution})


@pytest.mark.parametrize("text", ["model: {id: x}\n", "edit: null\n", "{}\n"])
def test_an_edit_config_without_an_edit_is_refused_not_certified_unedited(tmp_path: Path, text: str) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        edit_overlay(str(path))
    said = f"{path}: no edit to apply (no edit: section, or edit.name noop)"
    assert caught.value.code == "E201" and caught.value.message == said


def test_a_whole_run_config_serves_as_an_edit_config(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model: {id: x}\nprofile: dev\nedit: {name: quant_rtn, plan: {bits: 4}}\n", encoding="utf-8")
    assert edit_overlay(str(path)).plan == {"bits": 4}


@pytest.mark.parametrize("value", [[], False, 0, ""])
@pytest.mark.parametrize("key", ["overrides", "guards"])
def test_a_recipient_policy_section_of_another_type_is_refused_not_read_as_none(key: str, value: object) -> None:
    with pytest.raises(UsageError) as caught:
        _policy_data({"tier": "balanced", key: value}, "p.yaml")
    assert caught.value.code == "E201" and caught.value.message.startswith(f"p.yaml: {key} must")


def test_exponents_without_a_decimal_point_are_numbers_in_every_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 5e-1\nb: 1.5e2\nc: 11e-1\nd: '5e-1'\ne: 1_000\nf: v1e2\n", encoding="utf-8")
    assert read_yaml(str(path)) == {"a": 0.5, "b": 150.0, "c": 1.1, "d": "5e-1", "e": 1000, "f": "v1e2"}


def test_a_misspelt_case_matrix_is_refused_before_the_first_case_is_certified(services: Services) -> None:
    services.loader.names["ve_base"] = _VE_WEIGHTS  # type: ignore[attr-defined]  (the fake tells them)
    suite = _suite(["spectral"])
    typo = msgspec.structs.replace(suite.cases[1], matrix="ffn.2.dwn")
    with pytest.raises(UsageError) as caught:
        run_suite(msgspec.structs.replace(suite, cases=[suite.cases[0], typo]), services, source="s.yaml")
    assert (
        caught.value.code == "E201"
        and "case down_0.8: matrix 'ffn.2.dwn' is not a 2-D parameter" in caught.value.message
    )
    assert "ffn.2.down" in caught.value.hint and services.store.run_ids() == []


def test_the_cases_matrices_of_the_suite_on_the_fakes_pass(services: Services) -> None:
    services.loader.names["ve_base"] = _VE_WEIGHTS  # type: ignore[attr-defined]
    assert CalibrationCase(name="x", kind="benign").matrix is None
    assert len(run_suite(_suite(["spectral"]), services)) == 2


def test_an_empty_profile_is_refused_not_read_as_ci() -> None:
    with pytest.raises(UsageError) as caught:  # refused where the config is read, since 0.3.12 (E202 at the policy)
        parse_config({"profile": "", "edit": {"name": "quant_rtn"}}, source="c.yaml")
    assert caught.value.code == "E201" and caught.value.message == "c.yaml: profile '' is not one a run takes"


@pytest.mark.parametrize("command", [["run", "--demo"], ["doctor"]])
def test_an_unknown_network_switch_value_is_e200_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """`yes` meant on: a demo model reads nothing from a hub, and was run as if it were off."""
    from tests.fakes.cli import run_cli

    monkeypatch.setenv("INVARLOCK_ALLOW_NETWORK", "yes")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(*command, "--events", tmp_path / "ev.duckdb")
    assert code == 2 and "INVARLOCK_ALLOW_NETWORK='yes' is neither 1" in out + err, out + err
    assert "E200" in out + err
    assert not (tmp_path / "ev.duckdb").exists()


def test_an_empty_output_dir_is_refused() -> None:
    assert _refused({"output": {"dir": " "}}) == "c.yaml: output.dir is empty"


def test_a_corpus_path_under_the_home_folder_is_read_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invarlock.adapters.corpus_files import read_text_file

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "corpus.txt").write_text("one document\n", encoding="utf-8")
    assert read_text_file("~/corpus.txt") == (tmp_path / "corpus.txt", "one document\n")


def test_a_labelled_provider_asked_for_a_text_stream_says_what_it_holds() -> None:
    from invarlock.adapters.corpus_resolver import LocalCorpusResolver

    with pytest.raises(UsageError) as caught:
        LocalCorpusResolver().open("demo:polarity")
    assert caught.value.message == "'demo:polarity' holds labelled examples, not text to score as a stream"
    assert caught.value.hint.startswith("set eval.metric.kind: accuracy for it")


def test_a_config_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"model: {id: caf\xe9}\n")
    with pytest.raises(UsageError) as caught:
        read_yaml(str(path))
    assert (caught.value.message, caught.value.hint) == (f"{path}: not UTF-8 text", "save the config as UTF-8")


def test_an_empty_model_id_is_refused_not_read_as_this_folder() -> None:
    assert _refused({"model": {"id": ""}}) == "c.yaml: model.id is empty"


def test_an_error_within_a_file_keeps_its_code_and_hint_and_names_the_file() -> None:
    from invarlock.domain.errors import ResourceShortage

    named = UsageError("E201", "key x is unknown", "remove it").within("c.yaml: case a")
    assert (named.code, named.message, named.hint) == ("E201", "c.yaml: case a: key x is unknown", "remove it")
    assert type(ResourceShortage("E608", "disk full", "free space").within("c.yaml")) is UsageError


@pytest.mark.parametrize(("profile", "final_n", "refused"), [("release", 3200, True), ("release", 3125, False)])
def test_an_arm_whose_bootstrap_verify_cannot_spend_is_refused_before_the_run(
    profile: str, final_n: int, refused: bool
) -> None:
    """A release run of 3 200 final windows was issued, then refused by its own verify (E607) and called an altered
    store by replay (the statistics hunt): no recipient could check it."""
    from invarlock.application.certification.run_request import policy_for
    from invarlock.cli.api import certify_request
    from invarlock.domain.policy import VERIFY_MAX_BOOTSTRAP_CELLS

    data = {"edit": {"name": "quant_rtn"}, "dataset": {"preview_n": 400, "final_n": final_n, "calibration_n": 200}}
    request = certify_request(parse_config(data, source="c.yaml"), None, profile=profile)
    if not refused:
        assert policy_for(request).replicates * final_n <= VERIFY_MAX_BOOTSTRAP_CELLS
        return
    with pytest.raises(UsageError) as caught:
        policy_for(request)
    said = "an arm of 3200 windows with 3200 bootstrap replicates"
    assert caught.value.code == "E005" and said in caught.value.message
    assert "plan at most 3125 windows per arm" in caught.value.hint


def test_a_recorded_config_stating_the_execution_defaults_is_read_as_it_was() -> None:
    recorded = {"execution": {"actors": 2, "address": "local", "backend": "inprocess"}}  # as 0.3.10 recorded it
    assert parse_config(recorded, source="run r", as_written=False).execution is not None
