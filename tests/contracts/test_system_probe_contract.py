"""The SystemProbe contract, run on the recorded fake and the local adapter: what the preflight relies on."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.adapters.system_probe import LocalSystemProbe
from invarlock.ports.system import SystemProbe

from tests.fakes.system import FakeSystemProbe


@pytest.fixture(params=["fake", "local"])
def probe(request: pytest.FixtureRequest) -> SystemProbe:
    return FakeSystemProbe() if request.param == "fake" else LocalSystemProbe()


def test_each_extra_lists_a_package_as_installed_or_missing_never_both(probe: SystemProbe) -> None:
    extras = probe.extras()
    assert extras and len({e.name for e in extras}) == len(extras)
    for extra in extras:
        assert not set(extra.installed) & set(extra.missing)
        assert all(version for version in extra.installed.values())


def test_a_store_path_with_nothing_there_is_none_and_stays_empty(probe: SystemProbe, tmp_path: Path) -> None:
    path = tmp_path / "runs" / "ev.duckdb"
    assert probe.store_summary(str(path)) is None
    assert list(tmp_path.iterdir()) == []


def test_free_bytes_are_measured_on_the_nearest_existing_folder(probe: SystemProbe, tmp_path: Path) -> None:
    assert probe.free_bytes(str(tmp_path / "not" / "yet" / "ev.duckdb")) > 0


def test_the_temporary_folder_is_named_and_has_a_free_size(probe: SystemProbe) -> None:
    folder = probe.temp_folder()
    assert folder and probe.free_bytes(folder) > 0


@pytest.mark.hf
def test_cpu_is_always_available_and_known(probe: SystemProbe) -> None:
    support = probe.devices()
    assert "cpu" in support.available and set(support.available) <= set(support.known)
    assert "auto" in support.known and "float32" in support.dtypes
