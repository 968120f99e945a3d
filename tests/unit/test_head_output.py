"""causal_rows.reusing_output: a plain linear LM head writes every call's logits into one tensor, with the bits
of the module's own call; any other head, or a call that autograd records, is the module's call."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.hf

from invarlock.adapters.causal_rows import reusing_output  # noqa: E402  (needs torch)

HIDDEN, VOCAB = 24, 320


def _head(bias: bool = False, dtype: torch.dtype = torch.float32) -> torch.nn.Linear:
    torch.manual_seed(3)
    return torch.nn.Linear(HIDDEN, VOCAB, bias=bias).to(dtype)


def _rows(count: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(count, HIDDEN, generator=torch.Generator().manual_seed(seed)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_call_writes_the_modules_bits_into_one_tensor(dtype: torch.dtype) -> None:
    head = _head(dtype=dtype)
    applied = reusing_output(head)
    with torch.inference_mode():
        first = applied(_rows(17, 1, dtype))
        assert torch.equal(first, head(_rows(17, 1, dtype)))
        second = applied(_rows(17, 2, dtype))
        assert second.data_ptr() == first.data_ptr()
        assert torch.equal(second, head(_rows(17, 2, dtype)))
        assert torch.equal(first, second)  # the first call's logits are overwritten: reduce before the next call


def test_another_row_count_gets_a_tensor_of_its_shape() -> None:
    head = _head()
    applied = reusing_output(head)
    with torch.inference_mode():
        applied(_rows(17, 1))
        shorter = applied(_rows(5, 2))
        assert shorter.shape == (5, VOCAB)
        assert torch.equal(shorter, head(_rows(5, 2)))


def test_a_head_with_a_bias_or_hooks_is_called_as_it_is() -> None:
    biased = _head(bias=True)
    assert reusing_output(biased) is biased
    hooked = _head()
    handle = hooked.register_forward_hook(lambda *_: None)
    assert reusing_output(hooked) is hooked
    handle.remove()
    assert reusing_output(hooked) is not hooked
    accelerated = _head()
    accelerated._hf_hook = object()  # accelerate's device hook: its forward moves the rows first
    assert reusing_output(accelerated) is accelerated
    identity = torch.nn.Identity()  # not a Linear
    assert reusing_output(identity) is identity


def test_a_call_with_autograd_on_gets_a_fresh_tensor() -> None:
    head = _head()
    applied = reusing_output(head)
    with torch.enable_grad():  # whatever mode earlier tests in the process left
        logits = applied(_rows(17, 1))
        assert logits.requires_grad
        assert torch.equal(logits, head(_rows(17, 1)))


def test_a_callers_list_keeps_the_tensor_between_callables() -> None:
    head, held = _head(), []
    with torch.inference_mode():
        first = reusing_output(head, held)(_rows(17, 1))
        second = reusing_output(head, held)(_rows(17, 2))  # the next batch's head: no new pages
        assert second.data_ptr() == first.data_ptr() and held == [second]
        assert torch.equal(second, head(_rows(17, 2)))
        shorter = reusing_output(head, held)(_rows(5, 3))
        assert len(held) == 1 and held[0] is shorter and torch.equal(shorter, head(_rows(5, 3)))
