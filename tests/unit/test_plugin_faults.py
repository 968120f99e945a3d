"""A third-party plugin that raises (at certify, before the run starts, in the doctor), calls sys.exit on import,
or answers context_length() with no count of positions: one E220/E223/E224 line naming it, the failure recorded,
never E999 or a silent exit."""

from __future__ import annotations

import json

import pytest
from invarlock.domain.errors import UsageError
from invarlock.domain.run import replay

from tests.fakes.plugin_dist import CONFIG
from tests.fakes.plugin_dist import stored_events as _events


@pytest.mark.usefixtures("raising_plugin")
def test_a_plugin_that_raises_is_named_and_the_run_records_its_failure(tmp_path) -> None:
    """A plugin's RuntimeError in score_pair ended in E999 ('unexpected ...; report it', blaming InvarLock) and
    left the run incomplete; it is E224 naming the plugin, its distribution and where it raised, recorded."""
    import invarlock
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    events = tmp_path / "ev.duckdb"
    with pytest.raises(invarlock.UsageError) as refused:
        invarlock.certify("base", "subject", config=CONFIG, events=events, cert_out=tmp_path / "out")
    assert refused.value.code == "E224" and refused.value.exit_code == 2
    assert refused.value.message == (
        "plugin raising 1.0 (adapter 'fake', dataset 'fake') raised RuntimeError: CUDA out of cheese "
        "(in raising_plugin.Raising.score_pair)"
    )
    assert refused.value.hint.startswith("fix or uninstall raising")
    store = DuckDBEventStore(events, read_only=True)
    [run_id] = store.run_ids()
    state = replay(_events(store, run_id))  # type: ignore[arg-type]
    assert state.failed is not None and state.failed.code == "E224" and not (tmp_path / "out").exists()


@pytest.mark.usefixtures("raising_plugin")
def test_a_plugin_raising_before_the_run_starts_is_one_e224_line_not_e999(tmp_path) -> None:
    """An edit factory raising KeyError while the request is checked (nothing is recorded yet) reaches the CLI's
    error mapping as it is: the line names the plugin instead of 'unexpected KeyError; report it'."""
    import invarlock
    from invarlock.cli.main import _failure

    config = {**CONFIG, "model": {"adapter": "fake", "id": "base"}, "edit": {"name": "boom", "plan": {}}}
    with pytest.raises(KeyError) as raised:
        invarlock.certify(config=config, events=tmp_path / "ev.duckdb")
    failure = _failure(raised.value)
    assert (failure.exit_code, failure.code) == (2, "E224")
    assert failure.message.endswith("raised KeyError: 'device' (in raising_plugin.boom)")
    assert _failure(KeyError("ours")).code == "E999", "an exception no plugin raised stays unexpected"


def test_a_plugin_module_calling_sys_exit_on_import_is_e220_and_listed(tmp_path, monkeypatch) -> None:
    """SystemExit is no Exception: a module calling sys.exit(3) while imported ended `invarlock plugins` (and any
    run using the entry) silently with exit 3 and no output."""
    from invarlock.cli.registry import Registry

    info = tmp_path / "exiter-1.0.dist-info"
    info.mkdir()
    (tmp_path / "exiter_plugin.py").write_text("import sys\nsys.exit(3)\n", encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: exiter\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[invarlock.edits]\nexiter = exiter_plugin:Edit\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry.discover()
    with pytest.raises(UsageError) as refused:
        registry.load("edits", "exiter")
    assert refused.value.code == "E220"
    assert refused.value.message == "edit plugin 'exiter' (exiter 1.0) failed to load: SystemExit: 3"
    [status] = [s for s in Registry.discover().status(["edits"]) if s.entry.name == "exiter"]
    assert status.error == "SystemExit: 3"


@pytest.mark.usefixtures("raising_plugin")  # its fake adapter, for the doctor's run config
def test_a_malformed_entry_point_value_is_e220_saying_so(tmp_path, monkeypatch) -> None:
    """importlib's own failure on a value that is not `module:attribute` read "'NoneType' object has no attribute
    'group'"; the doctor reports it as D220."""
    from invarlock.cli.registry import Registry

    from tests.fakes.cli import run_cli

    info = tmp_path / "garbled-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: garbled\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[invarlock.edits]\ngarbled = not a path:!\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UsageError) as refused:
        Registry.discover().load("edits", "garbled")
    said = "its entry point 'not a path:!' is not of the form 'module:attribute'"
    assert refused.value.code == "E220"
    assert refused.value.message == f"edit plugin 'garbled' (garbled 1.0) failed to load: ValueError: {said}"
    [status] = [s for s in Registry.discover().status(["edits"]) if s.entry.name == "garbled"]
    assert status.error == f"ValueError: {said}"
    from invarlock.cli import registry as registry_module

    monkeypatch.setattr(registry_module, "_REGISTRY", Registry.discover())
    config = {**CONFIG, "model": {"adapter": "fake", "id": "base"}, "edit": {"name": "garbled", "plan": {}}}
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    code, out, _ = run_cli("doctor", "-c", path, "--events", tmp_path / "ev.duckdb", "--json")
    [finding] = [f for f in json.loads(out)["findings"] if f["code"] == "D220"]
    assert code == 2 and said in finding["message"]


@pytest.mark.usefixtures("raising_plugin")
def test_the_doctor_reports_a_plugin_that_raises_as_its_check_finding_and_goes_on(tmp_path) -> None:
    """The doctor stopped at the first plugin that raised (E999 before E224, then one E224 line); it reports it
    as the failing check's D224 finding, says the run would stop with E224, and runs the checks that remain."""
    from tests.fakes.cli import run_cli

    config = {**CONFIG, "model": {"adapter": "fake", "id": "base"}, "edit": {"name": "boom", "plan": {}}}
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    code, out, _ = run_cli("doctor", "-c", path, "--events", tmp_path / "ev.duckdb", "--json")
    report = json.loads(out)
    [finding] = [f for f in report["findings"] if f["code"] == "D224"]
    assert code == 2 and "raised KeyError: 'device' (in raising_plugin.boom)" in finding["message"]
    assert any(f["check"] == "windows" and f["severity"] != "error" for f in report["findings"])


@pytest.mark.usefixtures("raising_plugin")
@pytest.mark.parametrize("context", ["16", -1, True])
def test_a_plugin_context_length_that_is_no_count_of_positions_is_e223(context: object) -> None:
    """A string ended in E999 (TypeError comparing it with seq_len); -1 told the user to 'set dataset.seq_len to
    -1 or less' (E201)."""
    from invarlock.cli.registry import registry
    from invarlock.cli.routing import RegistryModelLoader

    loader = RegistryModelLoader(registry())
    loader._loader("fake").contexts["base"] = context  # type: ignore[attr-defined]
    with pytest.raises(UsageError) as refused:
        loader.context_length("base", adapter="fake")
    assert refused.value.code == "E223"
    assert (
        refused.value.message
        == f"adapter plugin 'fake' (raising 1.0): its ModelLoader's context_length() returned {context!r}"
    )
    loader._loader("fake").contexts["base"] = 512  # type: ignore[attr-defined]
    assert loader.context_length("base", adapter="fake") == 512


@pytest.mark.usefixtures("raising_plugin")
def test_a_plugin_loader_is_not_asked_for_shape_settings() -> None:
    """ports/loader.py ShapeSettings: the preflight's shapes check asks the built-in loaders only."""
    from invarlock.cli.registry import registry
    from invarlock.cli.routing import RegistryModelLoader

    loader = RegistryModelLoader(registry())
    plugin = loader._loader("fake")
    plugin.shape_settings = lambda ref, adapter: {"hidden_size": 1}  # type: ignore[attr-defined]
    assert loader.shape_settings("base", adapter="fake") is None


@pytest.mark.usefixtures("raising_plugin")
def test_a_plugin_loader_is_not_asked_what_its_adapter_scores() -> None:
    """ports/loader.py ScoredKinds: the preflight's kind check asks the built-in loaders only (a plugin adapter may
    score a built-in kind's evidence its own way)."""
    from invarlock.cli.registry import registry
    from invarlock.cli.routing import RegistryModelLoader

    loader = RegistryModelLoader(registry())
    plugin = loader._loader("fake")
    plugin.kinds["base"] = ("fake", ("embedding_cosine",))  # type: ignore[attr-defined]
    assert plugin.scored_kinds("base", adapter="fake") == ("fake", ("embedding_cosine",))  # type: ignore[attr-defined]
    assert loader.scored_kinds("base", adapter="fake") is None


@pytest.mark.usefixtures("raising_plugin")
@pytest.mark.parametrize("edit", ["quitter", "late_quitter"])
def test_a_plugin_calling_sys_exit_is_e224_not_a_silent_exit_0(tmp_path, edit: str) -> None:
    """The configs hunt: sys.exit(0) in an edit's check_plan or apply ended `run` with exit 0 (read as PASS), no
    output, not even the --json line, and the run left incomplete; the doctor said nothing and exited 0."""
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    from tests.fakes.cli import run_cli

    config = {**CONFIG, "model": {"adapter": "fake", "id": "base"}, "edit": {"name": edit, "plan": {}}}
    path, events = tmp_path / "run.yaml", tmp_path / "ev.duckdb"
    path.write_text(json.dumps(config), encoding="utf-8")
    code, out, err = run_cli("run", "-c", path, "--events", events, "--json")
    said = f"raised SystemExit: 0 (in raising_plugin.Quitter.{'check_plan' if edit == 'quitter' else 'apply'})"
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E224]") and said in err and err.count("\n") == 1, err
    assert json.loads(out)["error"]["code"] == "E224"
    if edit == "late_quitter":  # the edit ran inside the run: recorded as failed, not left incomplete
        store = DuckDBEventStore(events, read_only=True)
        [run_id] = store.run_ids()
        state = replay(_events(store, run_id))  # type: ignore[arg-type]
        assert state.failed is not None and state.failed.code == "E224"
    else:  # the plan is checked before the run starts: nothing recorded; the doctor names it too
        assert not events.exists()
        code, out, _ = run_cli("doctor", "-c", path, "--events", tmp_path / "doctor.duckdb", "--json")
        [finding] = [f for f in json.loads(out)["findings"] if f["code"] == "D224"]
        assert code == 2 and said in finding["message"]


@pytest.mark.usefixtures("raising_plugin")
@pytest.mark.parametrize(
    ("edit", "said"),
    [
        ("bad_text", "raised BadText (in raising_plugin.Thrower.apply)"),  # E999, blaming InvarLock
        ("exiting_text", "raised ExitingText (in raising_plugin.Thrower.apply)"),  # a traceback in verify
        ("late_text", "raised LateText: the first line with text (in raising_plugin.Thrower.apply)"),
        ("bare", "raised BaseException (in raising_plugin.Thrower.apply)"),  # a traceback, the run incomplete
        ("generator_exit", "raised GeneratorExit (in raising_plugin.Thrower.apply)"),
        ("huge", "raised RuntimeError: " + "x" * 240 + "… (in raising_plugin.Thrower.apply)"),  # 10 MB printed
    ],
)
def test_whatever_a_plugin_raises_is_one_bounded_e224_line_and_the_run_records_it(tmp_path, edit: str, said: str):
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    from tests.fakes.cli import run_cli

    config = {**CONFIG, "model": {"adapter": "fake", "id": "base"}, "edit": {"name": edit, "plan": {}}}
    path, events = tmp_path / "run.yaml", tmp_path / "ev.duckdb"
    path.write_text(json.dumps(config), encoding="utf-8")
    code, out, err = run_cli("run", "-c", path, "--events", events, "--json")
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E224]") and said in err and err.count("\n") == 1, err[:600]
    assert json.loads(out)["error"]["code"] == "E224"
    store = DuckDBEventStore(events, read_only=True)
    [run_id] = store.run_ids()
    state = replay(_events(store, run_id))  # type: ignore[arg-type]
    assert state.failed is not None and state.failed.code == "E224"


@pytest.mark.usefixtures("raising_plugin")
def test_an_entry_point_naming_a_module_is_e223_not_e999(tmp_path) -> None:
    from tests.fakes.cli import run_cli

    config = {**CONFIG, "model": {"adapter": "fake", "id": "base"}, "edit": {"name": "modular", "plan": {}}}
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    code, _, err = run_cli("run", "-c", path, "--events", tmp_path / "ev.duckdb")
    said = "edit plugin 'modular' (raising 1.0) names a module, which cannot be called"
    assert code == 2 and err.startswith(f"ERROR [INVARLOCK:E223] {said} — "), err


@pytest.mark.usefixtures("raising_plugin")
def test_what_a_plugin_prints_while_a_command_runs_goes_to_stderr(tmp_path) -> None:
    """A plugin edit's print went to stdout before the command's one --json line (the plugins hunt)."""
    from tests.fakes.cli import run_cli

    config = {**CONFIG, "model": {"adapter": "fake", "id": "base"}, "edit": {"name": "chatty", "plan": {}}}
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    code, out, err = run_cli("run", "-c", path, "--events", tmp_path / "ev.duckdb", "--json")
    assert code == 2 and "CHATTY on stdout" in err and "CHATTY" not in out
    [line] = out.splitlines()
    assert json.loads(line)["error"]["code"] == "E224"
