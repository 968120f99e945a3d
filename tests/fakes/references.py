"""Recorded-state fake of ports.kept_reference.KeptReference: the fake baseline's side of lockstep scoring, kept as
the scores it gave each window, so that a subject pairs with it after the baseline fake is released."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from invarlock.domain.errors import IntegrityError, UsageError
from invarlock.domain.model import PairedScore, WindowScore
from invarlock.domain.windows import TokenWindow

from tests.fakes.comparisons import _compare


@dataclass
class FakeReference:
    """What `model` (a FakeModel) kept: its score of each window `keep` ran over, handed out by `score_pair`;
    `released` and `closed` record the calls, `paired` the windows paired since."""

    model: Any
    batch_size: int
    kept: dict[int, WindowScore] = field(default_factory=dict)
    paired: list[int] = field(default_factory=list)
    released: bool = False
    closed: bool = False
    held_once: list[Any] = field(default_factory=list)  # the models hold_once was given, in order
    room_checked: list[int] = field(default_factory=list)  # the token counts check_room was asked about
    room: int = 10**9  # tokens whose references fit (check_room)

    def keep(self, windows: Sequence[TokenWindow], progress: Any = None) -> None:
        """What the fake baseline would score for each window, kept (its `scored` records them: it ran)."""
        if self.released:
            raise IntegrityError("E605", "the fake baseline was released before its windows were kept", "fix the test")
        if not self.room_checked:
            raise IntegrityError("E605", "windows kept before check_room was asked", "call check_room first")
        for w in windows:
            self.model.scored.append(w.window_id)
            self.kept[w.window_id] = self.model._score_one(w)
            if progress is not None:
                progress(1)

    def check_room(self, tokens: int) -> None:
        """Recorded; E608 beyond `room` tokens, as a disk too small for them."""
        self.room_checked.append(tokens)
        if tokens > self.room:
            raise UsageError("E608", f"no room for {tokens} tokens (the fake has {self.room})", "ask for fewer")

    def release_model(self) -> None:
        self.released, self.model = True, None

    def score_pair(self, other: Any, windows: Sequence[TokenWindow], progress: Any = None) -> Iterator[PairedScore]:
        """As FakeModel.score_pair, the baseline's side from what was kept."""
        if not hasattr(other, "_score_one"):
            raise UsageError("E104", f"lockstep scoring needs a fake subject, got {type(other).__name__}", "use fakes")
        for w in windows:
            if w.window_id not in self.kept:
                raise IntegrityError("E605", f"window {w.window_id} was not kept", "keep it first")
            self.paired.append(w.window_id)
            other.scored.append(w.window_id)
            mine, theirs = self.kept[w.window_id], other._score_one(w)
            if progress is not None:
                progress(1)
            yield PairedScore(
                window_id=w.window_id, baseline=mine, subject=theirs, comparison=_compare(w, mine, theirs)
            )

    def hold_once(self, other: Any) -> None:
        """Recorded: a fake holds nothing twice."""
        self.held_once.append(other)

    def close(self) -> None:
        self.closed = True
