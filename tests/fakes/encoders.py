"""A recorded-state fake of an encoder runner (like adapters/hf_encoder.py): pooled-embedding cosines in
lockstep, no token likelihood."""

from __future__ import annotations

from dataclasses import dataclass

from invarlock.domain.errors import UsageError
from invarlock.domain.model import PairedScore, WindowComparison

from tests.fakes.models import FakeModel


@dataclass
class FakeEncoder(FakeModel):
    """A FakeModel whose `score` and taps refuse (E104, as hf_encoder does) and whose lockstep pairs carry only
    a cosine: 1 for equal qualities, falling with their relative gap, jittered by each window's tokens."""

    def score(self, windows, progress=None):  # type: ignore[no-untyped-def]
        raise UsageError("E104", "adapter fake_encoder cannot score windows by NLL", "use embedding_cosine")

    def activation_stats(self, windows, weights, progress=None):  # type: ignore[no-untyped-def]
        raise UsageError("E104", "adapter fake_encoder cannot run the variance guard", "drop variance")

    def score_pair(self, other, windows, progress=None):  # type: ignore[no-untyped-def]
        if not isinstance(other, FakeEncoder):
            raise UsageError("E104", f"lockstep embedding needs two fake encoders, got {type(other).__name__}", "")
        gap = abs(other.quality - self.quality) / max(other.quality, self.quality)
        for w in windows:
            self.paired.append(w.window_id)
            cosine = 1.0 - gap * (1.0 + (sum(w.tokens) % 7) / 10.0)
            comparison = WindowComparison(window_id=w.window_id, positions=len(w.tokens), cosine=cosine)
            if progress is not None:
                progress(1)
            yield PairedScore(window_id=w.window_id, baseline=None, subject=None, comparison=comparison)
