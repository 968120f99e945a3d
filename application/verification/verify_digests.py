"""verify's `digest_forms` check: every digest the certificate states but plain verify cannot recompute (the models'
weights, config and tokenizer, the event chain's head, the reuse sources' events and keys) is a sha256, 64
lowercase hex digits. An empty or malformed one is a value that was never measured, which fails (CERTIFICATE.md:
a missing value is never a pass); the re-execution audit and `--events` compare the values themselves."""

from __future__ import annotations

import re
from collections.abc import Iterator

import msgspec
from invarlock.domain import certificate as c

from .verify_report import VerifyReport

_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAMES = re.compile(r".*(_sha256|hash|_key)")
# recomputed by other checks from the evidence (the window plan's per-window digests are shorter by design)
_SKIPPED = ("evidence",)


def _stated(value: object, path: str) -> Iterator[tuple[str, object]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if path or key not in _SKIPPED:
                yield from _stated(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _stated(item, f"{path}[{i}]")
    elif _NAMES.fullmatch(path.rsplit(".", 1)[-1].split("[")[0]) and value is not None:
        yield path, value


def digest_forms(cert: c.Certificate, report: VerifyReport) -> None:
    """Add the `digest_forms` check (integrity): the first stated digest that is no sha256, if any."""
    data = msgspec.to_builtins(cert)
    data.pop("signature", None)  # checked by the signature check
    bad = next(((p, v) for p, v in _stated(data, "") if not (isinstance(v, str) and _SHA256.fullmatch(v))), None)
    detail = "every stated model, chain and source digest is a sha256" if bad is None else f"{bad[0]} is {bad[1]!r}"
    report.add("digest_forms", bad is None, detail if bad is None else f"{detail}, not a sha256 (64 lowercase hex)")
