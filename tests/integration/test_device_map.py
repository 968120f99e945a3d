"""`model.device_map` on the real demo model (issue 13 §3): a disk-offloaded load (accelerate, a RAM cap
small enough that most blocks stay on disk) reads, scores, edits and repairs exactly like the default load;
a tensor with no values anywhere is an error; the edits stream the matrices one at a time."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.domain.errors import AbortError
from invarlock.domain.model import DevicePlacement, LoadOptions
from invarlock.domain.windows import TokenWindow

from tests.fakes.streaming import AliveMatrices, blocks_of_weights, counting_model_class

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.hf

DEMO_REF = "demo:smollm2-135m"
OFFLOAD = DevicePlacement(device_map="auto", max_memory={"cpu": "250MiB"})  # the 538 MB model: most blocks on disk
DOWN = "model.layers.10.mlp.down_proj.weight"  # blocks 9+ land on disk under the cap
UP = "model.layers.10.mlp.up_proj.weight"


@pytest.fixture(scope="module")
def offloaded(demo_dir: Any) -> Any:
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().load(DEMO_REF, LoadOptions(placement=OFFLOAD))


def _windows() -> list[TokenWindow]:
    rng = np.random.default_rng(3)
    return [TokenWindow(window_id=i, tokens=tuple(int(t) for t in rng.integers(0, 49152, 24))) for i in range(2)]


@pytest.mark.model
def test_a_disk_offloaded_demo_model_has_the_default_loads_identity_census_and_matrices(demo_model, offloaded):
    spread = offloaded.identity()
    assert "disk" in (spread.device_map or {}).values(), "the cap must offload blocks, or this tests nothing"
    assert any(p.device.type == "meta" for p in offloaded.module.parameters())
    assert msgspec.structs.replace(spread, device_map=None) == demo_model.identity()
    assert offloaded.census() == demo_model.census()
    pairs = zip(demo_model.matrices(), offloaded.matrices(), strict=True)
    assert all(a.name == b.name and np.array_equal(a.array, b.array) for a, b in pairs)


def _matrix(model: Any, name: str) -> np.ndarray:
    return next(m.array for m in model.matrices() if m.name == name)


@pytest.mark.model
def test_offloaded_weights_score_like_the_default_load_and_take_writes_and_repairs(demo_model, offloaded):
    # the last test using the module's offloaded model: it may edit it
    assert offloaded.module.get_parameter(DOWN).device.type == "meta"
    scores = list(offloaded.score(_windows()))
    assert scores == list(demo_model.score(_windows()))
    halved = _matrix(offloaded, UP) * np.float32(0.5)
    offloaded.assign(UP, halved)
    assert np.array_equal(_matrix(offloaded, UP), halved), "a write to a disk-offloaded weight must land"
    down = _matrix(offloaded, DOWN)
    offloaded.scale_weights({DOWN: 0.75})
    scaled = torch.from_numpy(down.copy()).mul_(0.75).numpy()  # what the in-memory path computes
    assert np.array_equal(_matrix(offloaded, DOWN), scaled)
    assert list(offloaded.score(_windows())) != scores
    offloaded.scale_weights({})
    assert np.array_equal(_matrix(offloaded, DOWN), down), "undoing a repair restores the weight bit for bit"


def test_a_tensor_on_the_meta_device_without_an_offload_hook_is_an_error_not_skipped():
    from invarlock.adapters.hf_fingerprint import tensor_infos, weights_sha256

    hollow = torch.nn.Linear(4, 4, device="meta")
    for read in (weights_sha256, tensor_infos):
        with pytest.raises(AbortError) as caught:
            read(hollow)
        assert caught.value.code == "E410" and "weight" in caught.value.message


def test_quant_rtn_holds_one_matrix_at_a_time():
    from invarlock.adapters.quant_rtn import QuantRTNEdit

    tracker = AliveMatrices()
    model = counting_model_class(tracker)(ref="wide", weights=blocks_of_weights(6))
    before = {name: array.copy() for name, array in model.weights.items()}
    QuantRTNEdit().apply(model, {"bits": 4, "scope": "all"})
    assert tracker.handed >= 2 * 24 and tracker.peak <= 2
    assert all(not np.array_equal(before[name], model.weights[name]) for name in before), "every block weight edited"


def test_a_failed_offloaded_load_leaves_no_offload_folder(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The offload folder is made before the load; a load that fails (here: no such checkpoint) removes it."""
    import tempfile

    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.domain.errors import UsageError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(UsageError):
        HFModelLoader().load(str(tmp_path / "no-such-model"), LoadOptions(placement=OFFLOAD))
    assert list(tmp_path.iterdir()) == []
