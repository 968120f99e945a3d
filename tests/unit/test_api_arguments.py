"""The Python API's arguments of the wrong type are UsageError E200 naming the keyword (the inputs hunt: a Path
model reference, `replay(5)`, `verify(max_replicates="10")`, `certify(progress=5)` and a Certificate struct with
a section set to None each raised a TypeError or an AttributeError, or called a healthy store altered)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import invarlock
import msgspec
import pytest
from invarlock.domain.errors import UsageError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"
CERT = FIXTURE / "run.cert.json"


def _refused(call: Any, words: str, code: str = "E200") -> None:
    with pytest.raises(UsageError) as refused:
        call()
    assert refused.value.code == code and words in refused.value.message, refused.value.message


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_replicates": "10"}, "max_replicates must be an int of at least 1, not str"),
        ({"max_replicates": 0}, "max_replicates 0 is below 1"),
        ({"policy": [1, 2]}, "policy must be a str or a path, not list"),
        ({"events": 3}, "events must be a str or a path, not int"),
        ({"models": {"baseline": 1}}, "models['baseline'] must be a str or a path, not int"),
        ({"models": "demo"}, "models must be a mapping"),
        ({"exact": "yes"}, "exact must be True or False, not str"),
        ({"tier": 5}, "tier must be a str, not int"),
        ({"sample_seed": 1.5}, "sample_seed must be an int, not float"),
    ],
)
def test_verify_names_the_keyword_of_the_wrong_type(kwargs: dict[str, Any], words: str) -> None:
    _refused(lambda: invarlock.verify(CERT, **kwargs), words)


@pytest.mark.parametrize("certificate", [1, None, {}, b"cert.json", "a\0b"])
def test_a_certificate_that_is_no_path_or_certificate_is_e200(certificate: Any) -> None:
    for call in (invarlock.verify, invarlock.render_report, invarlock.load_certificate):
        with pytest.raises(UsageError) as refused:
            call(certificate)
        assert refused.value.code == "E200", (call, refused.value.message)


def test_a_certificate_struct_with_a_section_set_to_none_is_e601_as_its_file_would_be() -> None:
    cert = invarlock.load_certificate(CERT)
    broken = msgspec.structs.replace(cert, primary_metric=None)
    for call in (invarlock.verify, invarlock.render_report):
        _refused(lambda call=call: call(broken), "primary_metric", code="E601")
    assert invarlock.verify(Path(CERT)).exit_code == invarlock.verify(cert).exit_code


def _altered(policy: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(policy, **changes)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"guards": None}, "Expected `object`, got `null` - at `$.guards`"),
        ({"guard_order": None}, "at `$.guard_order`"),
        ({"tier": "bogus", "profile": "nonsense"}, "unknown tier 'bogus'"),
        ({"min_windows": -1}, "min_windows is not the balanced tier plus its overrides"),
        ({"enforce_floors": "no"}, "Expected `bool`, got `str`"),
    ],
)
def test_a_policy_object_is_checked_as_its_mapping_would_be(change: dict[str, Any], words: str) -> None:
    """Taken unchecked, a None section raised a bare TypeError, and tier "bogus" decided PASS (the Python API hunt,
    stop 71)."""
    from invarlock.domain.policy import resolve_policy

    policy = resolve_policy("balanced", "dev")
    assert invarlock.verify(CERT, policy=policy).exit_code in (0, 1)
    _refused(lambda: invarlock.verify(CERT, policy=_altered(policy, **change)), words, code="E202")


def test_replay_of_a_run_id_that_is_no_str_is_e200_not_an_altered_store(tmp_path: Path) -> None:
    store = shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "invarlock.duckdb")
    for run_id in (5, 5.0, ["x"]):
        _refused(lambda run_id=run_id: invarlock.replay(run_id, events=store), "run_id must be a str")
        _refused(lambda run_id=run_id: invarlock.resume_certify(run_id, events=store), "run_id must be a str")


@pytest.mark.parametrize(
    ("kwargs", "words", "code"),
    [
        ({"baseline": 5}, "baseline must be a str or a path, not int", "E200"),
        ({"progress": 5}, "progress must be a Progress", "E200"),
        ({"edit": "quant_rtn"}, "edit must be a mapping, not str", "E201"),
        ({"config": 5}, "config must be a path, a mapping or a RunConfig, not int", "E200"),
        ({"config": [1]}, "config must be a path, a mapping or a RunConfig, not list", "E200"),
    ],
)
def test_certify_refuses_a_wrong_type_before_anything_is_recorded(
    tmp_path: Path, kwargs: dict[str, Any], words: str, code: str
) -> None:
    events = tmp_path / "events.duckdb"
    call = {"baseline": "demo:smollm2-135m", **kwargs}
    _refused(lambda: invarlock.certify(call.pop("baseline"), events=events, cert_out=tmp_path, **call), words, code)
    assert not events.exists(), "nothing recorded"


@pytest.mark.parametrize(
    ("kwargs", "words", "code"),
    [
        ({"baseline": "out\udcff"}, "baseline is not UTF-8 text: 'out\\udcff'", "E200"),
        ({"events": "e\ud800.duckdb"}, "events is not UTF-8 text", "E200"),
        ({"config": {"model": {"id": "x\udcff"}}}, "config['model']['id'] is not UTF-8 text", "E201"),
        ({"config": {"mo\udcffdel": {}}}, "config['mo\\udcffdel'] is not UTF-8 text", "E201"),
        ({"edit": {"name": "quant_rtn", "plan": {"b\ud800": 8}}}, "edit['plan']['b\\ud800'] is not UTF-8", "E201"),
    ],
)
def test_text_that_is_not_utf8_is_refused_before_anything_is_recorded(
    tmp_path: Path, kwargs: dict[str, Any], words: str, code: str
) -> None:
    """A folder name with undecodable bytes (os.listdir's lone surrogates) raised UnicodeEncodeError deep inside the
    run, its store file already made; the CLI refuses such an argument (E200) or config value (E201)."""
    events = tmp_path / "events.duckdb"
    call = {"baseline": "demo:smollm2-135m", "events": events, "cert_out": tmp_path, **kwargs}
    _refused(lambda: invarlock.certify(**call), words, code)
    assert not events.exists() and not (tmp_path / "e\ud800.duckdb").exists(), "nothing recorded"
    _refused(lambda: invarlock.replay("\udcff", events=events), "run_id is not UTF-8 text")  # it read E603


def test_config_and_edit_structs_of_other_types_are_e201_before_anything_is_recorded(tmp_path: Path) -> None:
    """A RunConfig or EditConfig built in Python, never decoded, reached a raw TypeError (the API hunt)."""
    from invarlock.application.config import EditConfig, RunConfig

    events = tmp_path / "events.duckdb"
    config = RunConfig(dataset=5)  # type: ignore[arg-type]
    _refused(lambda: invarlock.certify("demo:smollm2-135m", config=config, events=events), "no recorded form", "E201")
    edit = EditConfig(name="quant_rtn", plan=5)  # type: ignore[arg-type]
    _refused(lambda: invarlock.certify("demo:smollm2-135m", edit=edit, events=events), "at `$.plan`", "E201")
    assert not events.exists()


@pytest.mark.parametrize(
    "provenance",
    [{"config": {1: 2}}, {"config": {"x": "\ud800"}}, {"environment": {"python": float("nan")}}],
    ids=["a key that is no text", "text that is not UTF-8", "a NaN"],
)
def test_a_certificate_struct_no_file_can_hold_is_e601(provenance: dict[str, Any]) -> None:
    """A raw TypeError, UnicodeEncodeError or E402 ("a value could not be measured", exit 3) before."""
    cert = invarlock.load_certificate(CERT)
    broken = msgspec.structs.replace(cert, provenance=msgspec.structs.replace(cert.provenance, **provenance))
    for call in (invarlock.verify, invarlock.render_report):
        _refused(lambda call=call: call(broken), "cannot be written as a file", code="E601")


@pytest.mark.parametrize("keyword", ["export", "cert_out", "tier", "profile", "events", "sign_key", "device"])
def test_an_empty_argument_is_e200_not_the_current_folder_or_the_default(tmp_path: Path, keyword: str) -> None:
    """`export=""` wrote the subject into the current folder over its config.json; `cert_out=""` and `tier=""`
    fell back to the defaults (the stop-62 API hunt). The CLI refuses an empty value too."""
    events = tmp_path / "events.duckdb"
    given = {"events": events, "cert_out": tmp_path, keyword: ""}
    _refused(lambda: invarlock.certify("demo:smollm2-135m", **given), f"{keyword} is empty")
    _refused(lambda: invarlock.resume_certify("run-1", events=events, cert_out=tmp_path, export=""), "export is empty")
    assert not events.exists() and list(tmp_path.iterdir()) == [], "nothing recorded or written"


@pytest.mark.parametrize("keyword", ["events", "pubkey", "tier", "profile", "policy"])
def test_verify_refuses_an_empty_argument(keyword: str) -> None:
    _refused(lambda: invarlock.verify(CERT, **{keyword: ""}), f"{keyword} is empty")


class _NoArgsStart:
    def start(self) -> None: ...
    def advance(self, done: int) -> None: ...
    def finish(self) -> None: ...


class _KeywordProgress:  # every call a run makes binds: accepted
    def start(self, *args: Any, **kwargs: Any) -> None: ...
    def advance(self, done: int, *rest: Any) -> None: ...
    def finish(self, note: str = "") -> None: ...


def test_a_progress_whose_methods_take_other_arguments_is_e200_before_anything_is_recorded(tmp_path: Path) -> None:
    """It passed the callable check and raised a raw TypeError mid-run, the run left incomplete (stop-62 hunt)."""
    events = tmp_path / "events.duckdb"
    words = "progress.start cannot be called as a run calls it: too many positional arguments"
    _refused(lambda: invarlock.certify("demo:smollm2-135m", events=events, progress=_NoArgsStart()), words)
    assert not events.exists()
    from invarlock.cli.api_arguments import progress_of

    keyword = _KeywordProgress()
    assert progress_of(keyword) is keyword


@pytest.mark.parametrize(
    ("dataset", "words"),
    [({"final_n": 1}, "dataset.preview_n and dataset.final_n must be >= 2"), ({"calibration_n": -3}, "is -3")],
)
def test_a_run_config_built_in_python_is_checked_as_its_file_would_be(dataset: dict[str, Any], words: str) -> None:
    """A RunConfig object skipped the config checks: its errors were recorded as failed runs (stop-62 hunt)."""
    from invarlock.cli.api import load_run_config

    base = load_run_config(None)
    assert load_run_config(base) == base
    built = msgspec.structs.replace(base, dataset=msgspec.structs.replace(base.dataset, **dataset))
    _refused(lambda: load_run_config(built), words, code="E201")


def test_a_negative_sample_seed_is_taken_as_the_cli_takes_it() -> None:
    """`--sample-seed -1` is a seed; the API refused it "below 0" and then named the 64-bit range (stop 62)."""
    from invarlock.cli.api_arguments import optional_seed

    assert [optional_seed(s) for s in (-1, -(2**63), 0, None)] == [-1, -(2**63), 0, None]


def _doubled(levels: int) -> list[Any]:
    shared: list[Any] = ["x"]
    for _ in range(levels):
        shared = [shared, shared]
    return shared


@pytest.mark.parametrize("keyword", ["config", "edit"])
def test_a_mapping_sharing_one_list_forty_levels_deep_is_e201_without_expanding_it(
    tmp_path: Path, keyword: str
) -> None:
    """A list holding one list twice, 40 levels deep, is 2**40 values once recorded; the walk for non-UTF-8 text
    expanded it (a hang) before anything else looked at it. Each shared value is now walked and sized once."""
    events = tmp_path / "events.duckdb"
    given = {"name": "quant_rtn", "plan": {"bits": 8, "notes": _doubled(40)}}
    call = {"baseline": "demo:smollm2-135m", "events": events, keyword: given}
    _refused(lambda: invarlock.certify(**call), f"{keyword} holds more than 1,000,000 values", "E201")
    assert not events.exists()


def test_a_mapping_inside_itself_is_e201_naming_where() -> None:
    plan: dict[str, Any] = {"bits": 8}
    plan["again"] = [plan]
    call = {"baseline": "demo:smollm2-135m", "edit": {"name": "quant_rtn", "plan": plan}}
    _refused(lambda: invarlock.certify(**call), "edit['plan']['again'][0] contains itself", "E201")


def test_a_section_given_as_a_read_only_mapping_is_read_as_a_dict() -> None:
    """copy.deepcopy of a MappingProxyType section raised a bare TypeError (the regression hunt)."""
    from types import MappingProxyType

    from invarlock.cli.api import load_run_config

    config = load_run_config({"model": MappingProxyType({"id": "demo:smollm2-135m"}), "profile": "dev"})
    assert config.model.id == "demo:smollm2-135m"


def test_a_run_config_object_naming_a_file_its_provider_never_reads_is_refused() -> None:
    """Parsed as a recorded config, it passed: a PASS certificate named a file the demo text stood in for (the
    regression hunt, stop 71)."""
    from invarlock.application.config import DatasetConfig, RunConfig
    from invarlock.cli.api import load_run_config

    config = RunConfig(dataset=DatasetConfig(provider="demo:wikipedia", path="/home/user/my_eval.txt"))
    _refused(lambda: load_run_config(config), "config: dataset.path is not read by provider", code="E201")
