"""A corpus the certificate's dataset recipe names that the recipient cannot read (a relative file not in the
folder verify runs in, a hub dataset not cached) is a usage error naming the certificate's field and where a
relative path is read from: it said 'corpus file corpus.txt does not exist — check the path', a path the
recipient never gave, and for labelled examples it was a failed integrity check (exit 3)."""

from __future__ import annotations

import dataclasses

import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.domain.errors import UsageError

from tests.unit.test_reexecution_paired import _audit, _certify, _services


class MissingFile:
    """A CorpusResolver whose corpus file is not here."""

    def open(self, *args: object, **kwargs: object) -> None:
        raise UsageError("E301", "corpus file corpus.txt does not exist", "check the path")

    open_labelled = open


@pytest.mark.parametrize("kind", ["accuracy", "embedding_cosine"])
def test_a_corpus_not_here_is_a_usage_error_naming_the_certificates_dataset(kind: str) -> None:
    services = _services(InMemoryEventStore())
    cert = _certify(services, kind)
    with pytest.raises(UsageError) as refused:
        _audit(cert, dataclasses.replace(services, corpora=MissingFile()), kind, sample=2)
    said = refused.value
    assert said.code == "E301" and said.message.startswith("the certificate's dataset (provenance.config.dataset: ")
    assert said.message.endswith("cannot be read here: corpus file corpus.txt does not exist")
    assert "a relative path from the folder verify runs in" in said.hint
