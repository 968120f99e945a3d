"""The WeightSource contract, run against every model adapter (the real HF causal LM and the recorded fake).

What every weight source promises: each 2-D weight listed once as an (out, in) float32 matrix with a family,
a block index and a head flag; a census consistent with those matrices and with the identity; scaling that
changes the weights digest and that `scale_weights({})` undoes bit for bit; `assign` that writes through,
keeps ties and refuses what does not fit; the weights it cannot map named apart, with a reason; an export
that reloads to the same weights digest. To run a new adapter (ONNX next) through this suite, add one
`pytest.param` to `MODEL_ADAPTERS` in tests/contracts/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from invarlock.ports.model import LoadedModel, WeightSource

from tests.contracts.conftest import ModelAdapterCase

FAMILIES = {"attn", "ffn", "embed", "other"}


def arrays(weights: WeightSource) -> dict[str, np.ndarray]:
    return {m.name: m.array.copy() for m in weights.matrices()}


@pytest.fixture
def weights(adapter: ModelAdapterCase) -> LoadedModel:
    """A fresh model of the adapter, free to edit."""
    return adapter.make(None)


def test_matrices_are_float32_out_by_in_with_family_block_and_head(weights: WeightSource) -> None:
    matrices = list(weights.matrices())
    names = [m.name for m in matrices]

    assert matrices and len(names) == len(set(names))
    assert all(m.array.dtype == np.float32 and m.array.ndim == 2 for m in matrices)
    assert {m.family for m in matrices} <= FAMILIES
    assert all(m.block is None or (isinstance(m.block, int) and m.block >= 0) for m in matrices)
    assert any(m.block is not None for m in matrices)
    assert all(isinstance(m.head, bool) and not (m.head and m.block is not None) for m in matrices)


def test_census_lists_every_matrix_with_its_shape_and_the_identitys_digests(weights: WeightSource) -> None:
    census, identity = weights.census(), weights.identity()
    shapes = {t.name: tuple(t.shape) for t in census.tensors}

    for m in weights.matrices():
        assert shapes[m.name] in (m.array.shape, m.array.shape[::-1]), m.name
    assert {name for group in census.tied_groups for name in group} <= shapes.keys()
    assert (census.config_sha256, census.tokenizer_sha256) == (identity.config_sha256, identity.tokenizer_sha256)
    assert weights.identity() == identity


def test_unmapped_weights_are_named_with_a_reason_kept_out_of_matrices_and_stated_by_the_identity(
    weights: WeightSource,
) -> None:
    unmapped = weights.unmapped()
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in unmapped.items())
    assert not unmapped.keys() & {m.name for m in weights.matrices()}
    assert not unmapped.keys() & set(weights.variance_taps())
    assert weights.identity().unmapped == (unmapped or None)
    assert weights.census().unmapped == tuple(sorted(unmapped))


def test_variance_taps_name_block_matrices(weights: WeightSource) -> None:
    blocks = {m.name: m.block for m in weights.matrices()}
    taps = weights.variance_taps()
    assert taps and all(blocks[t] is not None for t in taps)


def test_scaling_changes_the_digest_and_scaling_nothing_restores_it_bit_for_bit(weights: WeightSource) -> None:
    tap = weights.variance_taps()[0]
    digest, before = weights.identity().weights_sha256, arrays(weights)
    weights.scale_weights({tap: 0.5})

    assert weights.identity().weights_sha256 != digest
    assert np.allclose(arrays(weights)[tap], before[tap] * 0.5, rtol=1e-6, atol=0)
    weights.scale_weights({})
    assert weights.identity().weights_sha256 == digest
    assert all(np.array_equal(before[name], now) for name, now in arrays(weights).items())


def test_assign_writes_through_keeps_ties_and_becomes_the_original_for_scaling(weights: WeightSource) -> None:
    name = next(m.name for m in weights.matrices() if m.block is not None)
    digest, ties = weights.identity().weights_sha256, weights.census().tied_groups
    doubled = arrays(weights)[name] * np.float32(2)
    weights.assign(name, doubled)

    assert np.array_equal(arrays(weights)[name], doubled)
    assert weights.identity().weights_sha256 != digest
    assert weights.census().tied_groups == ties
    weights.scale_weights({name: 0.5})
    weights.scale_weights({})
    assert np.array_equal(arrays(weights)[name], doubled)


def test_assign_refuses_an_unknown_name_or_a_wrong_shape(weights: WeightSource) -> None:
    first = next(weights.matrices())
    digest = weights.identity().weights_sha256
    with pytest.raises(ValueError):
        weights.assign("no.such.weight", first.array)
    with pytest.raises(ValueError):
        weights.assign(first.name, first.array[:, :-1].copy())
    with pytest.raises(ValueError):
        weights.assign(first.name, first.array.astype(np.int32))
    assert weights.identity().weights_sha256 == digest


def test_export_reloads_to_the_same_weights_digest(
    adapter: ModelAdapterCase, weights: LoadedModel, tmp_path: Path
) -> None:
    tap = weights.variance_taps()[0]
    weights.scale_weights({tap: 0.75})
    written = weights.export(tmp_path / "exported")
    reloaded = adapter.reload(written)

    assert reloaded.identity().weights_sha256 == weights.identity().weights_sha256
    assert reloaded.tokenizer().digest() == weights.tokenizer().digest()
