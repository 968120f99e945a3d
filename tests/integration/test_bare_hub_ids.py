"""Bare hub ids (`gpt2`, `org/name`, as InvarLock 0.3.7 took them) resolve through a real Hugging Face cache
layout offline; a local directory of that name wins; an id that is not cached is one E103 line."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.adapters.hf_loader import resolve_adapter
from invarlock.adapters.hf_reference import resolve_reference
from invarlock.domain.errors import UsageError

from tests.integration.hub_cache import cache_checkpoint

pytestmark = pytest.mark.model


@pytest.fixture
def hub(tmp_path: Path, demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("INVARLOCK_ALLOW_NETWORK", "0")
    monkeypatch.chdir(tmp_path)
    return cache


@pytest.mark.parametrize("repo_id", ["gpt2", "openai-community/gpt2"])
def test_a_bare_id_resolves_to_its_snapshot_in_the_hf_cache(hub: Path, demo_dir: Path, repo_id: str) -> None:
    snapshot = cache_checkpoint(hub, repo_id, demo_dir)

    path = resolve_reference(repo_id)
    assert path == snapshot and resolve_reference(f"hf:{repo_id}") == snapshot
    assert (path / "model.safetensors").resolve() == (demo_dir / "model.safetensors").resolve()
    assert resolve_adapter(path, "auto") == "hf_causal"


def test_a_local_directory_of_the_same_name_wins(hub: Path, demo_dir: Path, tmp_path: Path) -> None:
    cache_checkpoint(hub, "gpt2", demo_dir)
    (tmp_path / "gpt2").symlink_to(demo_dir, target_is_directory=True)
    assert resolve_reference("gpt2") == Path("gpt2")


def test_a_bare_id_missing_from_the_cache_is_one_e103_line(hub: Path) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_reference("gpt2")
    line = caught.value.one_line()
    assert caught.value.code == "E103" and "\n" not in line
    assert "model 'gpt2' is neither a local directory nor in the Hugging Face cache" in line
    assert "INVARLOCK_ALLOW_NETWORK=1" in line


@pytest.mark.parametrize("value", ["yes", "true", " 1"])
def test_a_network_switch_that_is_neither_1_nor_0_is_e200_not_offline(
    hub: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # It was read as "off": a user who wrote `true` got E103 "not in the cache" and no word about the switch.
    monkeypatch.setenv("INVARLOCK_ALLOW_NETWORK", value)
    with pytest.raises(UsageError) as caught:
        resolve_reference("gpt2")
    assert caught.value.code == "E200" and f"INVARLOCK_ALLOW_NETWORK={value!r} is neither 1" in caught.value.message
