"""The base of every event Struct: frozen, keyword-only, tagged `name.vN` in the `type` field."""

from __future__ import annotations

import msgspec


class EventStruct(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """An event: a past-tense fact of a run or an audit. Subclasses set `tag="name.vN"`."""
