"""The entry-point registry: built-ins and a third-party distribution in the same groups, origins, a plugin that
fails to import (listed with its error, E220 when used), shadowed names, provenance and refused guard kinds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from invarlock.application.config import GuardsConfig, RunConfig
from invarlock.cli.plugin_kinds import used_entries
from invarlock.cli.registry import Registry
from invarlock.domain.errors import UsageError

from tests.plugins.install import install_plugin


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    install_plugin(folder)
    return folder


@pytest.fixture
def registry(site: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    monkeypatch.syspath_prepend(str(site))  # loading an entry imports its module from the plugin's folder
    return Registry.discover([str(site), *sys.path])


def test_builtins_and_the_plugin_share_the_groups_with_their_origins(registry: Registry) -> None:
    scale = registry.entry("edits", "scale_all")
    quant = registry.entry("edits", "quant_rtn")
    assert scale is not None and scale.origin == "invarlock-scale-all 0.2.1" and not scale.builtin
    assert quant is not None and quant.origin == "built-in"
    assert registry.names("edits")[:1] != ("scale_all",), "built-ins are listed first"
    assert {"jsonl_prompt", "demo:wikipedia"} <= set(registry.names("datasets"))
    assert "max_abs_weight" in registry.names("guards") and "ppl_causal" in registry.names("metrics")


def test_a_plugin_loads_only_when_used(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("invarlock_scale_all")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(site))
    registry = Registry.discover()
    assert "jsonl_prompt" in registry.names("datasets") and registry.provenance([("datasets", "jsonl_prompt")])
    assert "invarlock_scale_all.dataset" not in sys.modules, "discovery reads metadata only"
    resolver = registry.load("datasets", "jsonl_prompt")
    assert resolver.__module__ == "invarlock_scale_all.dataset"


def test_a_plugin_that_fails_to_import_is_listed_with_its_error_and_refused_with_e220(registry: Registry) -> None:
    statuses = {s.entry.name: s for s in registry.status(["guards", "datasets"])}
    assert statuses["max_abs_weight"].error is None and statuses["jsonl_prompt"].error is None
    with pytest.raises(UsageError) as caught:
        registry.load("edits", "broken_edit")
    assert caught.value.code == "E220"
    assert "invarlock-scale-all 0.2.1" in caught.value.message
    assert "needs a library that is not installed" in caught.value.message


def test_a_plugin_cannot_take_a_built_in_name(tmp_path: Path, site: Path) -> None:
    info = tmp_path / "squatter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: squatter\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[invarlock.edits]\nquant_rtn = squatter:Edit\n", encoding="utf-8")
    registry = Registry.discover([str(tmp_path), *sys.path])
    owner = registry.entry("edits", "quant_rtn")
    assert owner is not None and owner.builtin
    [lost] = [e for e in registry.entries if e.distribution == "squatter"]
    assert lost.shadowed_by == "built-in"
    assert registry.check(lost).error == "name already taken by built-in"


def test_provenance_names_only_third_party_entries_a_run_uses(registry: Registry) -> None:
    used = [("adapters", "auto"), ("edits", "scale_all"), ("datasets", "jsonl_prompt"), ("edits", "quant_rtn")]
    assert registry.provenance(used) == {
        "plugin.edits.scale_all": "invarlock-scale-all 0.2.1",
        "plugin.datasets.jsonl_prompt": "invarlock-scale-all 0.2.1",
    }


def test_the_plugin_guards_a_config_orders_are_entries_it_uses(registry: Registry) -> None:
    order = ["invariants", "spectral", "max_abs_weight", "invariants"]
    used = used_entries(RunConfig(guards=GuardsConfig(order=order)), None)
    assert ("guards", "max_abs_weight") in used and ("guards", "spectral") not in used
    assert registry.provenance(used) == {"plugin.guards.max_abs_weight": "invarlock-scale-all 0.2.1"}


def test_the_plugins_listing_escapes_what_a_distribution_s_metadata_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from invarlock.cli import registry as registry_module
    from invarlock.cli.main import cli

    info = tmp_path / "noisy-1.0.dist-info"
    info.mkdir()
    metadata = "Metadata-Version: 2.1\nName: noisy\nVersion: 1.0\x1b]0;title\x07\n"
    (info / "METADATA").write_text(metadata, encoding="utf-8")
    (info / "entry_points.txt").write_text("[invarlock.edits]\nnoisy_edit = noisy:Edit\n", encoding="utf-8")
    monkeypatch.setattr(registry_module, "_REGISTRY", Registry.discover([str(tmp_path), *sys.path]))
    result = CliRunner().invoke(cli, ["plugins", "edits"])
    assert result.exit_code == 0 and "noisy 1.0\\x1b]0;title\\x07" in result.output, result.output
    assert "\x1b]" not in result.output and "\x07" not in result.output
