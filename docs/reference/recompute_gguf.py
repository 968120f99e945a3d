"""Auditor's check: recompute a certificate's `gguf` record (baseline or subject) from the GGUF file itself.

Usage: python docs/reference/recompute_gguf.py evaluation.cert.json subject|baseline MODEL.gguf

Written from docs/reference/certificate.md (`gguf`); it imports nothing from invarlock (nor the `gguf`
package) and reads the GGUF container (version 2 or 3, little-endian) with the standard library alone:
header, metadata key/values, tensor infos. Every recomputed field must equal the stated one. Exit status 0
when all four match, 1 when one differs, 2 on bad input.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from collections import Counter
from typing import Any, BinaryIO

VALUE_TYPES = (
    *("UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL"),
    *("STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"),
)
SCALARS = {"UINT8": "B", "INT8": "b", "UINT16": "H", "INT16": "h", "UINT32": "I", "INT32": "i", "FLOAT32": "f"}
SCALARS |= {"BOOL": "?", "UINT64": "Q", "INT64": "q", "FLOAT64": "d"}
GGML_TYPES = {
    **{0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K"},
    **{11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS"},
    **{19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32"},
    **{27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4", 40: "NVFP4"},
    41: "Q1_0",
}


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("the file ends inside its header")
    return struct.unpack("<" + fmt, data)[0]


def _string(f: BinaryIO) -> str:
    length = _read(f, "Q")
    data = f.read(length)
    if len(data) != length:
        raise ValueError("the file ends inside a string")
    return data.decode("utf-8")


def _value(f: BinaryIO, kind: str) -> Any:
    if kind == "STRING":
        return _string(f)
    return _read(f, SCALARS[kind])


def _field(f: BinaryIO) -> tuple[str, list[Any]]:
    key, kind = _string(f), VALUE_TYPES[_read(f, "I")]
    if kind != "ARRAY":
        return key, [kind, _value(f, kind)]
    item = VALUE_TYPES[_read(f, "I")]
    if item == "ARRAY":
        raise ValueError(f"{key}: nested arrays are not supported by this script")
    return key, [f"ARRAY/{item}", [_value(f, item) for _ in range(_read(f, "Q"))]]


def _tensor(f: BinaryIO) -> tuple[str, str]:
    name = _string(f)
    for _ in range(_read(f, "I")):
        _read(f, "Q")
    kind = _read(f, "I")
    _read(f, "Q")  # the data offset
    return name, GGML_TYPES.get(kind, f"type{kind}")


def recompute(path: str) -> dict[str, Any]:
    """The four fields of a `gguf` record, from the file at `path`."""
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF" or _read(f, "I") not in (2, 3):
            raise ValueError(f"{path} is not a GGUF v2/v3 file")
        tensors, fields = _read(f, "Q"), _read(f, "Q")
        metadata = dict(_field(f) for _ in range(fields))
        types = sorted(_tensor(f) for _ in range(tensors))
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    listing = "".join(f"{name}\t{kind}\n" for name, kind in types)
    return {
        "file_sha256": digest.hexdigest(),
        "tensor_types": dict(sorted(Counter(kind for _, kind in types).items())),
        "tensor_types_sha256": hashlib.sha256(listing.encode()).hexdigest(),
        "metadata_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("baseline", "subject"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as handle:
            stated = json.load(handle)[argv[1]].get("gguf")
        ours = recompute(argv[2])
    except (OSError, ValueError, KeyError, UnicodeDecodeError, struct.error) as error:
        print(f"cannot check: {error}", file=sys.stderr)
        return 2
    if stated is None:
        print(f"the certificate's {argv[1]} has no gguf record: it was not loaded from a GGUF file", file=sys.stderr)
        return 2
    differing = [key for key in ours if stated.get(key) != ours[key]] + sorted(set(stated) - set(ours))
    for key in differing:
        print(f"{key}: stated {stated.get(key)!r}, recomputed {ours.get(key)!r}")
    print("gguf record: OK" if not differing else f"gguf record: {len(differing)} field(s) differ")
    return 0 if not differing else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
