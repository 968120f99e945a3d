"""What a model's `identity()` returns, checked before model_fingerprinted records it (ports/model.py).

The certificate states the identity as recorded, and verify trusts its digests (only the re-execution audit
can check them): they must be what their names say, a sha256 in lowercase hex, and the parameter count at
least one, as verify requires. Numpy scalars count as the numbers they hold. Anything else (a third-party
adapter's model, usually) is refused naming the adapter and its distribution, where it ended in E999 or in a
certificate stating a digest that is no digest."""

from __future__ import annotations

import msgspec
from invarlock.domain.canonical import is_sha256_hex
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.model import ModelIdentity
from invarlock.domain.numpy_scalars import numpy_enc_hook

from ..config import ModelConfig
from .score_rows import model_fault

DIGESTS = ("weights_sha256", "tokenizer_sha256", "config_sha256")


def checked_identity(found: object, cfg: ModelConfig, environment: dict[str, str]) -> ModelIdentity:
    """`found` (the identity() of the model `cfg` loaded) as a ModelIdentity of plain values.

    Raises:
        UsageError: E223 naming the adapter (and its plugin distribution) when it is none, or states a digest
            that is not a sha256 or a parameter count below one.
    """
    origin = environment.get(f"plugin.adapters.{cfg.adapter}")

    def fault(what: str) -> UsageError:
        return model_fault(cfg.adapter, origin, f"identity() returned {what}", "domain/model.py defines ModelIdentity")

    if not isinstance(found, ModelIdentity):
        raise fault(f"{type(found).__name__}, not a ModelIdentity")
    try:
        identity = msgspec.convert(msgspec.to_builtins(found, enc_hook=numpy_enc_hook), ModelIdentity, strict=True)
    except (msgspec.ValidationError, TypeError) as exc:
        raise fault(f"a ModelIdentity that is not one: {exc}") from None
    stated = DIGESTS + (("graph_sha256",) if identity.graph_sha256 is not None else ())
    odd = next((name for name in stated if not is_sha256_hex(getattr(identity, name))), None)
    if odd is not None:
        raise fault(f"{odd} = {getattr(identity, odd)!r}, not a sha256 in lowercase hex")
    if identity.param_count < 1:
        raise fault(f"param_count = {identity.param_count}")
    return identity


def tokenizers_differ(baseline_sha256: str, subject_sha256: str) -> AbortError:
    """E002: the subject does not share the baseline's tokenizer (windows could not be paired)."""
    return AbortError(
        "E002",
        f"tokenizers differ: baseline {baseline_sha256[:12]} vs subject {subject_sha256[:12]}",
        "certify a subject that shares the baseline's tokenizer",
    )
