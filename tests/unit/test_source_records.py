"""The optional source records (a model's GGUF file, an hf dataset's fingerprint and revision): absent, they leave
the bytes of identities, corpora and v1 certificates as they were; present, they make a certificate v2."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import msgspec
import pytest
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.model import CorpusInfo, GGUFSource, ModelIdentity

V1_CERT = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "run.cert.json"
SOURCE = GGUFSource(
    file_sha256="a" * 64, tensor_types={"F32": 2, "Q8_0": 3}, tensor_types_sha256="b" * 64, metadata_sha256="c" * 64
)


def _v1_certificate() -> c.Certificate:
    cert = c.from_bytes(V1_CERT.read_bytes())
    assert cert.schema_version == "v1"
    return cert


def test_identities_and_corpora_without_sources_encode_without_the_new_keys() -> None:
    cert = _v1_certificate()
    assert "gguf" not in msgspec.to_builtins(cert.subject)
    assert set(msgspec.to_builtins(cert.dataset.corpus)) == {"provider", "split", "source", "licence"}
    assert c.to_bytes(cert) == V1_CERT.read_bytes()


@pytest.mark.parametrize(
    "change",
    [
        lambda cert: {"subject": msgspec.structs.replace(cert.subject, gguf=SOURCE)},
        lambda cert: {"baseline": msgspec.structs.replace(cert.baseline, gguf=SOURCE)},
        lambda cert: {"dataset": msgspec.structs.replace(cert.dataset, fingerprint="1136bd8c2afa7d1f")},
        lambda cert: {"dataset": msgspec.structs.replace(cert.dataset, revision="0123abcd")},
    ],
    ids=["subject-gguf", "baseline-gguf", "fingerprint", "revision"],
)
def test_a_source_record_makes_the_certificate_v2_and_a_v1_claim_is_refused(change) -> None:
    cert = _v1_certificate()
    with_source = msgspec.structs.replace(cert, **change(cert))
    assert c.schema_version_of(with_source) == "v2"
    claimed_v1 = c.to_bytes(c.seal(with_source))
    with pytest.raises(UsageError) as err:
        c.from_bytes(claimed_v1)
    assert err.value.code == "E601" and "schema_version 'v1' but the content is v2" in err.value.message
    stated = c.seal(msgspec.structs.replace(with_source, schema_version="v2"))
    assert c.from_bytes(c.to_bytes(stated)) == stated


def test_a_gguf_source_round_trips_inside_an_identity_and_unknown_keys_are_refused() -> None:
    identity = msgspec.structs.replace(_v1_certificate().subject, gguf=SOURCE)
    assert msgspec.json.decode(msgspec.json.encode(identity), type=ModelIdentity) == identity
    raw = msgspec.to_builtins(identity)
    raw["gguf"]["quant"] = "Q8_0"
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(raw, ModelIdentity)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"provider": "hf", "split": "s", "source": "x", "licence": "l", "rev": "1"}, CorpusInfo)


def test_the_gguf_recompute_script_imports_the_standard_library_alone() -> None:
    script = Path(__file__).resolve().parents[2] / "docs" / "reference" / "recompute_gguf.py"
    tree = ast.parse(script.read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


class _Loaded:
    """A loaded model as the re-execution audit sees it: only its identity."""

    def __init__(self, identity: ModelIdentity) -> None:
        self._identity = identity

    def identity(self) -> ModelIdentity:
        return self._identity


def test_the_reexecution_audit_compares_the_gguf_record_of_a_model_loaded_from_its_file() -> None:
    from invarlock.application.verification.reexecute_identity import identity_findings

    cert = _v1_certificate()
    certified = msgspec.structs.replace(cert, subject=msgspec.structs.replace(cert.subject, gguf=SOURCE))
    other_file = msgspec.structs.replace(SOURCE, file_sha256="d" * 64)
    cases = {  # the subject's source as re-loaded -> whether the audit accepts it
        "same file": (SOURCE, True),
        "another file": (other_file, False),
        "loaded from the converted folder": (None, True),  # no record to compare: the digests still are
    }
    for name, (loaded_source, ok) in cases.items():
        subject = _Loaded(msgspec.structs.replace(cert.subject, gguf=loaded_source))
        [base_finding, subject_finding] = identity_findings(
            certified, {"baseline": cert.baseline, "subject": subject.identity()}
        )
        assert base_finding[1] is True and subject_finding[1] is ok, (name, subject_finding)
        assert ("gguf file_sha256 dddddddddddd != certified" in subject_finding[2]) is (name == "another file")
        # not compared is said, not passed over (the stop-62 kinds hunt: a made-up record on a model read "equal")
        said = f"its GGUF record (file {SOURCE.file_sha256[:12]}) was not compared: the model was not loaded from"
        assert (said in subject_finding[2]) is (loaded_source is None), (name, subject_finding)
        assert "GGUF record" not in base_finding[2]


def test_an_altered_gguf_record_is_named_field_by_field_without_a_swap_hint_for_equal_weights() -> None:
    """A GGUF subject holds its dequantized baseline's very weights; a certificate whose record of the file was
    altered was told "these are the certified baseline's weights: pass the certified subject" (the kinds hunt)."""
    from invarlock.application.verification.reexecute_identity import identity_findings

    cert = _v1_certificate()
    same = msgspec.structs.replace(cert.subject, weights_sha256=cert.baseline.weights_sha256)
    restated = msgspec.structs.replace(SOURCE, tensor_types={"F32": 61, "Q8_0": 211})
    certified = msgspec.structs.replace(cert, subject=msgspec.structs.replace(same, gguf=restated))
    loaded = msgspec.structs.replace(same, gguf=SOURCE)
    [_, (name, ok, detail)] = identity_findings(certified, {"baseline": cert.baseline, "subject": loaded})
    assert (name, ok) == ("reexec:subject_model", False)
    assert detail == f"subject: gguf tensor_types {SOURCE.tensor_types} != certified {restated.tensor_types}"
