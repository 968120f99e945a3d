"""causal_reference._copied_releasing: the kept LM head leaves a checkpoint's file mapping in parts, each part's
mapped pages given back once copied, so the copy's pages come in as the mapping's go (no second whole head at the
end of the baseline pass); the copy has every bit of the source."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.hf

from invarlock.adapters import causal_reference  # noqa: E402  (needs torch)


class RecordedMappings:
    """file_pages.release recorded: each range it is asked to give back, with the bytes copied so far."""

    def __init__(self, copied: list[torch.Tensor]) -> None:
        self.released: list[tuple[int, int, int]] = []  # (address, length, elements of the copy written by then)
        self.copied = copied

    def release(self, address: int, length: int) -> int:
        written = int((self.copied[0] != 0).sum()) if self.copied else 0
        self.released.append((address, length, written))
        return length


def test_the_head_is_copied_part_by_part_each_part_released_once_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    source = torch.arange(1, 1 + 10 * 7, dtype=torch.float32).reshape(10, 7)  # no zero: a written element is != 0
    seen: list[torch.Tensor] = []
    real_empty_like = torch.empty_like

    def zeroed_like(tensor: torch.Tensor) -> torch.Tensor:
        seen.append(torch.zeros_like(real_empty_like(tensor)))
        return seen[-1]

    monkeypatch.setattr(causal_reference, "COPY_BYTES", 4 * 16)  # 16 elements per part: 5 parts of 70
    monkeypatch.setattr(causal_reference.torch, "empty_like", zeroed_like)
    mappings = RecordedMappings(seen)
    copy = causal_reference._copied_releasing(source, mappings.release)
    assert torch.equal(copy, source) and copy.data_ptr() != source.data_ptr()
    base, size = source.data_ptr(), source.element_size()
    assert [(a - base) // size for a, _, _ in mappings.released] == [0, 16, 32, 48, 64]
    assert [n // size for _, n, _ in mappings.released] == [16, 16, 16, 16, 6]
    assert [w for _, _, w in mappings.released] == [16, 32, 48, 64, 70]  # each part released right after its copy
