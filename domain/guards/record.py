"""The base of every guard record (measurement, outcome, certificate section): a frozen, strict Struct."""

from __future__ import annotations

from typing import Literal

import msgspec

Verdict = Literal["pass", "fail"]


class Record(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Frozen and keyword-only; decoding refuses unknown keys, so a record's JSON has exactly its fields."""
