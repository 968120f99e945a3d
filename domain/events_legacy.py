"""Event versions an earlier release wrote, and their upcasters to the current version.

A stored event whose (type, version) is a key of UPCASTERS is decoded by its legacy Struct (tag `name.vN`,
exactly the wire shape that release wrote) and converted to the current event. Stores written by earlier
releases therefore replay to the same state, and to byte-identical certificates (tests/fixtures/store_v1).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from . import events as ev
from .errors import IntegrityError


def legacy_decoder(struct: type[msgspec.Struct]) -> Callable[[bytes], msgspec.Struct]:
    """A strict decoder of one legacy event Struct, raising IntegrityError E604 like `decode_event`."""
    decoder = msgspec.json.Decoder(struct)

    def decode(payload: bytes) -> msgspec.Struct:
        try:
            return decoder.decode(payload)
        except msgspec.DecodeError as exc:
            tag = struct.__struct_config__.tag
            raise IntegrityError(
                "E604", f"event payload of type {tag} does not decode: {exc}", "the event store was altered"
            ) from exc

    return decode


# (type, version) -> payload bytes -> the current event. Each entry: a legacy Struct in this module, its
# decoder and a pure conversion, e.g. (("model_fingerprinted", 1), lambda p: _model_v2(_decode_model_v1(p))).
UPCASTERS: dict[tuple[str, int], Callable[[bytes], ev.Event]] = {}
